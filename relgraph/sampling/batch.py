"""A sampled mini-batch as plain torch tensors: what the GNNs read of a batch, without PyG.

PyG's ``HeteroData`` is the public view of a batch (``TemporalSampler.sample``,
``TemporalNeighborLoader``). Importing ``torch_geometric`` loads ``torch._dynamo`` and its
dataset and LLM modules: 2.4 s on a 2-core machine on top of torch's 1.4 s, paid by every
training run and every ``relgraph predict`` on a GNN (6 s on the GNN's lane of an ``auto`` run,
beside LightGBM's feature SQL). The GNNs train, predict and explain on :class:`SampledBatch`:
the same tensors under the same names, in the same order, so the same model and predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import Tensor

from relgraph.graph.temporal_graph import EdgeType

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData


class TensorStore(dict):
    """One node or edge type's tensors by name, read as attributes too (``store.n_id``), as in PyG."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class SampledBatch:
    """A hetero mini-batch: ``batch[node_type]`` / ``batch[edge_type]`` give a :class:`TensorStore`.

    Attributes:
        seed_type: node type of the seeds; batch_size: B (the first B nodes of ``seed_type``).
        stores: per node type ``n_id``, ``seed``, ``rel_time``, ``seed_time`` (and ``num_nodes``);
            per edge type ``edge_index`` int64 [2, E] local ids, src -> dst (and ``eligible``).
        node_types, edge_types: in the order messages are summed (``HeteroData``'s store order).
        num_sampled_nodes_dict, num_sampled_edges_dict: per-hop counts of a sampled tree (hop 0 =
            seeds), None for other batches (explanations' unions).
        input_id: int64 [B] positions of the seeds in the loader's seed list (loader batches).
    """

    seed_type: str
    batch_size: int
    stores: dict[Any, TensorStore] = field(default_factory=dict)
    node_types: list[str] = field(default_factory=list)
    edge_types: list[EdgeType] = field(default_factory=list)
    num_sampled_nodes_dict: dict[str, list[int]] | None = None
    num_sampled_edges_dict: dict[EdgeType, list[int]] | None = None
    input_id: Tensor | None = None

    def __getitem__(self, key: str | EdgeType) -> TensorStore:
        return self.stores[key]

    def add_node_type(self, node_type: str, tensors: dict[str, Any]) -> TensorStore:
        """Store ``tensors`` for ``node_type`` (appended to ``node_types``)."""
        self.node_types.append(node_type)
        self.stores[node_type] = TensorStore(tensors)
        return self.stores[node_type]

    def edge_store(self, edge_type: EdgeType) -> TensorStore:
        """The store of ``edge_type``, made (and appended to ``edge_types``) on first use."""
        if edge_type not in self.stores:
            self.edge_types.append(edge_type)
            self.stores[edge_type] = TensorStore()
        return self.stores[edge_type]

    def to_hetero_data(self) -> HeteroData:
        """The same tensors as PyG's ``HeteroData`` (imports ``torch_geometric``)."""
        from torch_geometric.data import HeteroData

        data = HeteroData()
        for key in [*self.node_types, *self.edge_types]:
            data[key]._mapping.update(self.stores[key])  # PyG's per-attribute __setattr__ costs ~5 us each
        data.seed_type = self.seed_type
        data.batch_size = self.batch_size
        if self.num_sampled_nodes_dict is not None:
            data.num_sampled_nodes_dict = self.num_sampled_nodes_dict
            data.num_sampled_edges_dict = self.num_sampled_edges_dict
        if self.input_id is not None:
            data.input_id = self.input_id
        return data
