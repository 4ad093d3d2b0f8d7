"""The temporal heterogeneous graph: one node type per table, two edge types per foreign key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

    from relgraph.graph.columns import FeatureStats

EdgeType = tuple[str, str, str]

#: Node time of a row in a timed table whose time is unknown: such a row is never sampled.
NEVER = np.iinfo(np.int64).max


def reverse_relation(fk_column: str) -> str:
    """Relation name of the reverse edge type of foreign key ``fk_column``."""
    return f"rev_{fk_column}"


@dataclass
class TemporalGraph:
    """Structure and times of a database as a graph.

    Attributes:
        num_nodes: rows per node type (table).
        node_time: per node type, int64 seconds since epoch [num_nodes], or None for a static
            table (its rows always exist). Unknown times in a timed table are ``NEVER``.
        edge_index: per edge type ``(src, relation, dst)``, int64 [2, E] row positions.
            Forward ``(child, fk_column, parent)`` and reverse ``(parent, "rev_"+fk_column, child)``.
        dropped_edges: per forward edge type, how many foreign-key values were null or dangling.
        features: per node type, materialised column features (see ``graph.columns``).
        csr: per edge type, the sampler's adjacency precomputed (memory-mapped graphs, see
            ``graph.mmap``): ``(indptr, neighbor, neighbor_time or None, max_degree)`` in the layout
            of ``sampling.sampler._Adjacency``; empty for in-memory graphs (the sampler sorts the edges).
    """

    num_nodes: dict[str, int]
    node_time: dict[str, np.ndarray | None]
    edge_index: dict[EdgeType, np.ndarray]
    dropped_edges: dict[EdgeType, int] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    csr: dict[EdgeType, tuple[Any, Any, Any, int]] = field(default_factory=dict)

    @property
    def node_types(self) -> list[str]:
        return list(self.num_nodes)

    @property
    def edge_types(self) -> list[EdgeType]:
        return list(self.edge_index)

    def summary(self) -> str:
        """A short text table: rows and time range per node type, edges and dropped keys per edge type."""
        lines = ["node type            rows  time range"]
        for nt, n in self.num_nodes.items():
            times = self.node_time[nt]
            known = times[times != NEVER] if times is not None else None
            if known is None:
                span = "static"
            elif len(known) == 0:
                span = "no known time"
            else:
                lo, hi = (
                    np.datetime64(int(v), "s").astype("datetime64[D]") for v in (known.min(), known.max())
                )
                span = f"{lo} .. {hi}" + (f" ({n - len(known)} unknown)" if len(known) < n else "")
            lines.append(f"{nt:<18} {n:>7,}  {span}")
        lines.append("edge type                                        edges  dropped")
        for et, edges in self.edge_index.items():
            name = f"{et[0]} -[{et[1]}]-> {et[2]}"
            dropped = self.dropped_edges.get(et)
            lines.append(f"{name:<46} {edges.shape[1]:>7,}  {'' if dropped is None else dropped}")
        return "\n".join(lines)

    def feature_stats(self, cutoff_seconds: int, static_by_reference: bool = False) -> FeatureStats:
        """Normalisation statistics from rows with node time <= ``cutoff_seconds`` only (leakage-safe;
        ``static_by_reference``: see ``graph.columns.fit_feature_stats``)."""
        from relgraph.graph.columns import fit_feature_stats

        return fit_feature_stats(self, cutoff_seconds, static_by_reference)

    def to_hetero_data(self) -> HeteroData:
        """This graph as a PyG ``HeteroData`` (imports torch; see ``graph.hetero``)."""
        from relgraph.graph.hetero import to_hetero_data

        return to_hetero_data(self)
