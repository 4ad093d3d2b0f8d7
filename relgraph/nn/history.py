"""Recent-history summary of each seed entity: per edge type into the seed, the mean of the
numerical features (and of log-age) of its k most recent sampled neighbours, for a few k.

On event data the latest few events carry most of the signal (a driver's last races, a
customer's last orders). Message passing can learn such averages, but from few labels it
learns them slowly; this module hands them to the head directly.

``RecentHistory(windows, dims)`` where ``dims[edge_type]`` = number of numerical features of
the edge type's source table; ``forward(...) -> [B, out_dim]`` (zeros where a seed has no such
neighbour, plus one count feature per edge type).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from relgraph.nn.encoders import SECONDS_PER_DAY, TableInputs
from relgraph.nn.message_passing import EdgeType, edge_key


class RecentHistory(nn.Module):
    """Windowed means over each seed's most recent neighbours, projected to ``hidden``.

    Args:
        windows: neighbour counts k (e.g. ``[1, 3, 10]``): the mean over the k most recent.
        dims: per edge type whose destination is the seed type, the source's numerical width.
        hidden: output size.
    """

    def __init__(self, windows: list[int], dims: dict[EdgeType, int], hidden: int) -> None:
        super().__init__()
        self.windows = list(windows)
        self.edge_types = list(dims)
        self.keys = [edge_key(et) for et in self.edge_types]
        width = sum(len(self.windows) * (2 * d + 1) + 1 for d in dims.values())
        self.out_dim = width
        self.proj = nn.Sequential(nn.Linear(max(width, 1), hidden), nn.ReLU(), nn.Linear(hidden, hidden))

    def summary(
        self,
        inputs: dict[str, TableInputs],
        rel_time: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        batch_size: int,
    ) -> Tensor:
        """[B, out_dim] raw windowed means (numerical value, missing flag, log-age) and log-count."""
        parts = []
        for et in self.edge_types:
            src = et[0]
            ei = edge_index.get(et)
            num = inputs[src].numerical if src in inputs else None
            dn = 0 if num is None else num.shape[1]
            if ei is None or ei.shape[1] == 0:
                parts.append(torch.zeros(batch_size, len(self.windows) * (2 * dn + 1) + 1))
                continue
            to_seed = ei[1] < batch_size
            s, d = ei[0][to_seed], ei[1][to_seed]
            age = rel_time[src][s].double()
            # Rank of each neighbour among its seed's neighbours, most recent first.
            order = torch.argsort(d.double() * 1e12 + age, stable=True)
            s, d, age = s[order], d[order], age[order]
            counts = torch.bincount(d, minlength=batch_size)
            starts = torch.cumsum(counts, 0) - counts
            rank = torch.arange(d.shape[0]) - starts[d]
            values = [torch.log1p(age.clamp(min=0) / SECONDS_PER_DAY).float().unsqueeze(1)]
            if dn:
                missing = inputs[src].numerical_missing
                flags = torch.zeros_like(num[s]) if missing is None else missing[s]
                values = [num[s].float(), flags.float(), *values]
            feats = torch.cat(values, dim=1)
            for k in self.windows:
                keep = rank < k
                total = feats.new_zeros(batch_size, feats.shape[1]).index_add_(0, d[keep], feats[keep])
                n = feats.new_zeros(batch_size).index_add_(0, d[keep], feats.new_ones(int(keep.sum())))
                parts.append(total / n.clamp(min=1).unsqueeze(1))
            parts.append(torch.log1p(counts.float()).unsqueeze(1))
        return torch.cat(parts, dim=1) if parts else torch.zeros(batch_size, 1)

    def forward(
        self,
        inputs: dict[str, TableInputs],
        rel_time: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        batch_size: int,
    ) -> Tensor:
        return self.proj(self.summary(inputs, rel_time, edge_index, batch_size))
