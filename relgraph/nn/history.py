"""Recent-history summary of each seed entity: per edge type into the seed, the mean of the
numerical features (and of log-age) of its k most recent sampled neighbours, for a few k.

On event data the latest few events carry most of the signal (a driver's last races, a
customer's last orders). Message passing can learn such averages, but from few labels it
learns them slowly; this module hands them to the head directly.

``RecentHistory(windows, dims)`` where ``dims[edge_type]`` = number of numerical features of
the edge type's source table; ``forward(...) -> [B, out_dim]`` (zeros where a seed has no such
neighbour, plus one count feature per edge type). ``extremes=True`` adds, per window of more than
one neighbour, the min and max of the numerical features, and the last value when no window is 1
(a driver's best and worst recent finish, not only the mean). Given ``degree`` (the sampler's
eligible counts), the count feature is the true history length, not the sampled one.
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

    def __init__(self, windows: list[int], dims: dict[EdgeType, int], hidden: int, extremes: bool = False) -> None:
        super().__init__()
        self.windows = list(windows)
        self.edge_types = list(dims)
        self.keys = [edge_key(et) for et in self.edge_types]
        self.extremes = extremes
        width = sum(self._width(d) for d in dims.values())
        self.out_dim = width
        self.proj = nn.Sequential(nn.Linear(max(width, 1), hidden), nn.ReLU(), nn.Linear(hidden, hidden))

    def _extreme_windows(self) -> list[int]:
        """Windows that get min and max (0 = the last neighbour's values alone)."""
        if not self.extremes:
            return []
        return [k for k in self.windows if k > 1] + ([] if 1 in self.windows else [0])

    def _width(self, dn: int) -> int:
        """Summary columns of one edge type whose source has ``dn`` numerical features."""
        extra = sum(dn if k == 0 else 2 * dn for k in self._extreme_windows()) if dn else 0
        return len(self.windows) * (2 * dn + 1) + 1 + extra

    def summary(
        self,
        inputs: dict[str, TableInputs],
        rel_time: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        batch_size: int,
        degree: dict[EdgeType, Tensor] | None = None,
    ) -> Tensor:
        """[B, out_dim] raw windowed means (numerical value, missing flag, log-age), extremes, log-count."""
        parts = []
        for et in self.edge_types:
            src = et[0]
            ei = edge_index.get(et)
            num = inputs[src].numerical if src in inputs else None
            dn = 0 if num is None else num.shape[1]
            if ei is None or ei.shape[1] == 0:
                parts.append(torch.zeros(batch_size, self._width(dn)))
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
            if dn:
                parts.extend(self._extremes(num[s].float(), d, rank, batch_size))
            true = (degree or {}).get(et)
            length = counts if true is None else true[:batch_size]
            parts.append(torch.log1p(length.float()).unsqueeze(1))
        return torch.cat(parts, dim=1) if parts else torch.zeros(batch_size, 1)

    def _extremes(self, values: Tensor, seed: Tensor, rank: Tensor, batch_size: int) -> list[Tensor]:
        """Per extreme window: [B, dn] min and max over the seed's latest k (k = 0: the last values)."""
        out = []
        for k in self._extreme_windows():
            keep = rank < max(k, 1)
            index = seed[keep].unsqueeze(1).expand(-1, values.shape[1])
            for reduce in ("amin", "amax")[: 1 if k == 0 else 2]:  # one neighbour: min = max = last
                out.append(values.new_zeros(batch_size, values.shape[1]).scatter_reduce(
                    0, index, values[keep], reduce=reduce, include_self=False))
        return out

    def forward(
        self,
        inputs: dict[str, TableInputs],
        rel_time: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        batch_size: int,
        degree: dict[EdgeType, Tensor] | None = None,
    ) -> Tensor:
        return self.proj(self.summary(inputs, rel_time, edge_index, batch_size, degree))
