"""Conversion of a :class:`TemporalGraph` to PyTorch Geometric's ``HeteroData`` (imports torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

    from relgraph.graph.temporal_graph import (
        TemporalGraph,  # annotation only: temporal_graph calls this module
    )

#: Raw feature arrays copied onto each node store, under these attribute names.
FEATURE_KINDS = ("numerical", "categorical", "timestamp", "text")


def to_hetero_data(graph: TemporalGraph) -> HeteroData:
    """``HeteroData`` with, per node type: ``num_nodes``; ``time`` int64 [N] seconds (only for timed
    tables: static tables have no ``time`` attribute; unknown times are ``NEVER``); the raw
    feature arrays as tensors under ``numerical`` / ``categorical`` / ``timestamp`` / ``text``
    (only non-empty ones; multi-categorical columns need a cutoff's top values, see
    ``graph.columns.normalize``); and per edge type ``edge_index`` int64 [2, E].
    """
    import torch
    from torch_geometric.data import HeteroData

    data = HeteroData()
    for node_type, n in graph.num_nodes.items():
        store = data[node_type]
        store.num_nodes = n
        times = graph.node_time[node_type]
        if times is not None:
            store.time = torch.from_numpy(times.copy())
        feats = graph.features.get(node_type)
        if feats is None:
            continue
        for kind in FEATURE_KINDS:
            values = getattr(feats, kind)
            if values.shape[1]:
                store[kind] = torch.from_numpy(values.copy())
    for edge_type, edges in graph.edge_index.items():
        data[edge_type].edge_index = torch.from_numpy(edges.astype("int64", copy=True))
    return data
