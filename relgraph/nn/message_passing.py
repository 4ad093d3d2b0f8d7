"""Heterogeneous message passing over sampled temporal subgraphs, with plain scatter ops.

Both layers map ``x: dict[node_type, Tensor[n_t, hidden]]`` and
``edge_index: dict[(src, rel, dst), int64 Tensor[2, E]]`` (local ids, message src -> dst)
to new ``dict[node_type, Tensor[n_t, hidden]]``. Node types that receive no message keep a
self-transform, so every type is updated. No pyg-lib / torch-sparse needed: aggregation is
``index_add_`` and ``scatter_reduce``.

- :class:`HeteroSAGELayer`: GraphSAGE per edge type (mean or sum), summed over edge types.
- :class:`HeteroTimeAttentionLayer`: multi-head attention over each destination's incoming
  edges, per edge type, where each score also gets a learned bias from the source node's
  relative time, so a layer can learn to weigh the latest events most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

EdgeType = tuple[str, str, str]


@dataclass(frozen=True)
class LayerKeep:
    """What one layer must compute on a hop-ordered sampled tree (nodes and edges numbered hop by
    hop, hop 0 = the seeds): the first ``nodes[nt]`` nodes of each type are updated and the first
    ``edges[et]`` edges of each type carry messages. The layer ``l`` of ``L`` needs only the nodes
    within ``L - 1 - l`` hops of the seeds: what lies further out is never read again. The seeds'
    outputs are those of the whole layer up to float rounding (PyG's ``trim_to_layer`` idea)."""

    nodes: dict[str, int]
    edges: dict[EdgeType, int]


def edge_key(edge_type: EdgeType) -> str:
    """A ModuleDict-safe name for an edge type."""
    return "__".join(edge_type)


def scatter_mean(values: Tensor, index: Tensor, size: int) -> Tensor:
    """Mean of ``values`` [E, d] grouped by ``index`` [E] into [size, d] (0 where empty)."""
    out = values.new_zeros(size, values.shape[1]).index_add_(0, index, values)
    count = values.new_zeros(size).index_add_(0, index, values.new_ones(index.shape[0]))
    return out / count.clamp(min=1.0).unsqueeze(1)


def scatter_softmax(scores: Tensor, index: Tensor, size: int) -> Tensor:
    """Softmax of ``scores`` [E, h] over the edges sharing a destination ``index`` [E]."""
    heads = scores.shape[1]
    expanded = index.unsqueeze(1).expand(-1, heads)
    peak = scores.new_full((size, heads), -math.inf).scatter_reduce(
        0, expanded, scores, reduce="amax", include_self=True
    )
    exp = torch.exp(scores - peak[index])
    total = scores.new_zeros(size, heads).index_add_(0, index, exp)
    return exp / total[index].clamp(min=1e-16)


class _HeteroLayer(nn.Module):
    """Shared parts: per-type self transform, LayerNorm, residual, activation, dropout, and a
    per-edge-type embedding of log(1 + in-degree), since mean and softmax aggregation alone
    cannot tell one past event from twenty."""

    def __init__(self, node_types: list[str], edge_types: list[EdgeType], hidden: int, dropout: float) -> None:
        super().__init__()
        self.self_lin = nn.ModuleDict({nt: nn.Linear(hidden, hidden) for nt in node_types})
        self.norm = nn.ModuleDict({nt: nn.LayerNorm(hidden) for nt in node_types})
        self.degree_lin = nn.ModuleDict({edge_key(et): nn.Linear(1, hidden, bias=False) for et in edge_types})
        self.dropout = nn.Dropout(dropout)

    def _degree_term(self, key: str, dst_index: Tensor, n_dst: int, like: Tensor,
                     true_degree: Tensor | None = None) -> Tensor:
        """log(1 + in-degree) embedded; ``true_degree`` [n_dst]: the eligible count (not capped by the
        fanout) to use instead of the sampled edges."""
        if true_degree is not None:
            degree = true_degree.to(like.dtype)
        else:
            degree = like.new_zeros(n_dst).index_add_(0, dst_index, like.new_ones(dst_index.shape[0]))
        return self.degree_lin[key](torch.log1p(degree).unsqueeze(1))

    def _combine(self, x: dict[str, Tensor], messages: dict[str, Tensor], keep: LayerKeep | None = None) -> dict[str, Tensor]:
        out = {}
        for nt, h in x.items():
            if keep is not None:
                if not keep.nodes.get(nt, 0):
                    continue  # no node of this type is read by a later layer
                h = h[: keep.nodes[nt]]
            z = self.self_lin[nt](h)
            if nt in messages:
                z = z + messages[nt]
            out[nt] = h + self.dropout(torch.relu(self.norm[nt](z)))
        return out

    @staticmethod
    def _trim(ei: Tensor, et: EdgeType, n_dst: int, keep: LayerKeep | None) -> tuple[Tensor, int]:
        """The edges and destination count this layer computes (all of them without ``keep``)."""
        if keep is None:
            return ei, n_dst
        return ei[:, : keep.edges.get(et, 0)], keep.nodes.get(et[2], 0)


class HeteroSAGELayer(_HeteroLayer):
    """GraphSAGE per edge type: ``h_dst' = h_dst + act(norm(W_self h_dst + sum_et aggr_et(W_et h_src)))``."""

    def __init__(
        self,
        node_types: list[str],
        edge_types: list[EdgeType],
        hidden: int,
        aggr: str = "mean",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(node_types, edge_types, hidden, dropout)
        if aggr not in ("mean", "sum"):
            raise ValueError(f"aggr must be 'mean' or 'sum', got {aggr!r}")
        self.aggr = aggr
        self.edge_lin = nn.ModuleDict({edge_key(et): nn.Linear(hidden, hidden, bias=False) for et in edge_types})

    def forward(self, x: dict[str, Tensor], edge_index: dict[EdgeType, Tensor],
                degree: dict[EdgeType, Tensor] | None = None, keep: LayerKeep | None = None) -> dict[str, Tensor]:
        """``degree``: optional true in-degree per edge type [n_dst] (see ``_HeteroLayer._degree_term``);
        ``keep``: compute only what later layers read (see :class:`LayerKeep`)."""
        messages: dict[str, Tensor] = {}
        for et, ei in edge_index.items():
            src, _, dst = et
            key = edge_key(et)
            if key not in self.edge_lin or src not in x or dst not in x:
                continue
            ei, n_dst = self._trim(ei, et, x[dst].shape[0], keep)
            if ei.shape[1] == 0:
                continue
            values = self.edge_lin[key](x[src])[ei[0]]
            if self.aggr == "mean":
                agg = scatter_mean(values, ei[1], n_dst)
            else:
                agg = values.new_zeros(n_dst, values.shape[1]).index_add_(0, ei[1], values)
            true = (degree or {}).get(et)
            agg = agg + self._degree_term(key, ei[1], n_dst, values, None if true is None else true[:n_dst])
            messages[dst] = messages[dst] + agg if dst in messages else agg
        return self._combine(x, messages, keep)


class HeteroTimeAttentionLayer(_HeteroLayer):
    """Relative-time-aware attention per edge type, summed over edge types.

    Score of edge (s -> d) in head h: ``<q_d, k_s> / sqrt(d_h) + b_et(rel_time_s)``, where
    ``b_et`` is a learned linear function of the source's relative-time features: the layer
    can prefer the most recent events explicitly. ``rel_time_features`` passed to ``forward``
    are per node type [n_t, F] (e.g. from :meth:`RelativeTimeEncoder.features`).
    """

    def __init__(
        self,
        node_types: list[str],
        edge_types: list[EdgeType],
        hidden: int,
        time_features: int,
        heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(node_types, edge_types, hidden, dropout)
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.ModuleDict({edge_key(et): nn.Linear(hidden, hidden, bias=False) for et in edge_types})
        self.key = nn.ModuleDict({edge_key(et): nn.Linear(hidden, hidden, bias=False) for et in edge_types})
        self.value = nn.ModuleDict({edge_key(et): nn.Linear(hidden, hidden, bias=False) for et in edge_types})
        self.time_bias = nn.ModuleDict({edge_key(et): nn.Linear(time_features, heads) for et in edge_types})

    def forward(
        self,
        x: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        rel_time_features: dict[str, Tensor],
        degree: dict[EdgeType, Tensor] | None = None,
        keep: LayerKeep | None = None,
    ) -> dict[str, Tensor]:
        messages: dict[str, Tensor] = {}
        for et, ei in edge_index.items():
            src, _, dst = et
            key = edge_key(et)
            if key not in self.query or src not in x or dst not in x:
                continue
            ei, n_dst = self._trim(ei, et, x[dst].shape[0], keep)
            if ei.shape[1] == 0:
                continue
            s, d = ei[0], ei[1]
            q = self.query[key](x[dst][:n_dst]).view(-1, self.heads, self.head_dim)[d]
            k = self.key[key](x[src]).view(-1, self.heads, self.head_dim)[s]
            v = self.value[key](x[src]).view(-1, self.heads, self.head_dim)[s]
            scores = (q * k).sum(-1) / math.sqrt(self.head_dim)
            scores = scores + self.time_bias[key](rel_time_features[src])[s]
            alpha = scatter_softmax(scores, d, n_dst)
            weighted = (alpha.unsqueeze(-1) * v).reshape(-1, self.heads * self.head_dim)
            agg = weighted.new_zeros(n_dst, weighted.shape[1]).index_add_(0, d, weighted)
            true = (degree or {}).get(et)
            agg = agg + self._degree_term(key, d, n_dst, weighted, None if true is None else true[:n_dst])
            messages[dst] = messages[dst] + agg if dst in messages else agg
        return self._combine(x, messages, keep)
