"""The relational GNN: table encoders + relative time -> heterogeneous message passing -> head.

``RelGNN.forward`` works on one sampled batch given as plain tensors:

- ``inputs[nt]``: :class:`TableInputs` for the batch's nodes of type ``nt`` (in batch order),
- ``rel_time[nt]``: float [n_t] seed time - node time (seconds; 0 for static tables),
- ``seed_time[nt]``: float64 [n_t] seconds, the time of the seed each node belongs to,
- ``edge_index[et]``: int64 [2, E] local ids,
- the first ``batch_size`` nodes of ``seed_type`` are the seeds,
- optional ``degree[et]``: int64 [n_dst] the true (eligible, not fanout-capped) in-degree of each
  node, used by the layers' degree term and the recent-history counts instead of sampled edges,
- optional ``hops``: (nodes per hop per node type, edges per hop per edge type) of a hop-ordered
  sampled tree (the sampler's ``num_sampled_nodes`` / ``num_sampled_edges``): each layer then
  computes only the nodes a later layer reads (the last one: the seeds), the same outputs for
  a fraction of the work.

It returns the head's raw output for the seeds ([B] or [B, C]); ``head.predict`` turns it
into probabilities or values.
"""

from __future__ import annotations

from torch import Tensor, nn

from relgraph.nn.encoders import RelativeTimeEncoder, TableEncoder, TableInputs, TableSpec
from relgraph.nn.heads import TaskHead
from relgraph.nn.history import RecentHistory
from relgraph.nn.message_passing import EdgeType, HeteroSAGELayer, HeteroTimeAttentionLayer, LayerKeep

CONVS = ("sage", "attention")

#: Per-hop counts of a sampled batch: (nodes added at each hop per node type, edges per edge type).
Hops = tuple[dict[str, list[int]], dict[EdgeType, list[int]]]


def layer_keeps(hops: Hops | None, num_layers: int) -> list[LayerKeep | None]:
    """What each of ``num_layers`` layers computes on a batch with these per-hop counts; all of it
    (None) unless the batch has one hop per layer."""
    if hops is None:
        return [None] * num_layers
    nodes, edges = hops
    if any(len(c) != num_layers + 1 for c in nodes.values()) or any(len(c) != num_layers for c in edges.values()):
        return [None] * num_layers
    keeps: list[LayerKeep | None] = []
    for layer in range(num_layers):
        reach = num_layers - layer  # hops 0 .. reach - 1 are updated, edges of those hops carry messages
        keeps.append(LayerKeep({nt: sum(c[:reach]) for nt, c in nodes.items()},
                               {et: sum(c[:reach]) for et, c in edges.items()}))
    return keeps


class RelGNN(nn.Module):
    """Encoders per table, relative-time encoding added to every node, ``num_layers`` hetero layers.

    Args:
        specs: per node type, the encoder spec (training-cutoff statistics, vocab sizes).
        edge_types: edge types the layers have weights for.
        head: the task head.
        hidden: embedding size.
        num_layers: message-passing layers (one per sampled hop is natural).
        conv: ``sage`` (GraphSAGE, mean/sum) or ``attention`` (relative-time-aware attention).
        aggr: SAGE aggregation, ``mean`` or ``sum``.
        history: optional recent-history summary of the seeds, added to their embedding.
    """

    def __init__(
        self,
        specs: dict[str, TableSpec],
        edge_types: list[EdgeType],
        head: TaskHead,
        hidden: int = 64,
        num_layers: int = 2,
        conv: str = "sage",
        aggr: str = "mean",
        heads: int = 4,
        dropout: float = 0.1,
        history: RecentHistory | None = None,
    ) -> None:
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {CONVS}, got {conv!r}")
        self.conv = conv
        node_types = list(specs)
        self.encoders = nn.ModuleDict({nt: TableEncoder(spec, hidden) for nt, spec in specs.items()})
        self.time_encoder = RelativeTimeEncoder(hidden)
        time_features = self.time_encoder.linear.in_features
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            if conv == "sage":
                layers.append(HeteroSAGELayer(node_types, edge_types, hidden, aggr=aggr, dropout=dropout))
            else:
                layers.append(
                    HeteroTimeAttentionLayer(node_types, edge_types, hidden, time_features, heads, dropout)
                )
        self.layers = nn.ModuleList(layers)
        self.history = history
        self.head = head

    def embed(
        self,
        inputs: dict[str, TableInputs],
        rel_time: dict[str, Tensor],
        seed_time: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        degree: dict[EdgeType, Tensor] | None = None,
        hops: Hops | None = None,
    ) -> dict[str, Tensor]:
        """Node embeddings after message passing, per node type [n_t, hidden] (with ``hops``: only
        the seeds', [B, hidden] for the seed type, the first B rows)."""
        x = {}
        time_feats = {}
        for nt, enc in self.encoders.items():
            if nt not in rel_time or rel_time[nt].shape[0] == 0:
                continue
            time_feats[nt] = self.time_encoder.features(rel_time[nt])
            x[nt] = enc(inputs[nt], seed_time[nt]) + self.time_encoder.linear(time_feats[nt])
        keeps = layer_keeps(hops, len(self.layers))
        for layer, keep in zip(self.layers, keeps):
            if self.conv == "sage":
                x = layer(x, edge_index, degree=degree, keep=keep)
            else:
                x = layer(x, edge_index, time_feats, degree, keep=keep)
                time_feats = time_feats if keep is None else {nt: f[: keep.nodes.get(nt, 0)] for nt, f in time_feats.items()}
        return x

    def forward(
        self,
        inputs: dict[str, TableInputs],
        rel_time: dict[str, Tensor],
        seed_time: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        seed_type: str,
        batch_size: int,
        degree: dict[EdgeType, Tensor] | None = None,
        hops: Hops | None = None,
    ) -> Tensor:
        x = self.embed(inputs, rel_time, seed_time, edge_index, degree, hops)
        seeds = x[seed_type][:batch_size]
        if self.history is not None:
            seeds = seeds + self.history(inputs, rel_time, edge_index, batch_size, degree)
        return self.head(seeds)
