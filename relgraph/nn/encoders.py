"""Column encoders: one per table, turning a row's raw column values into one hidden vector.

Inputs come as a :class:`TableInputs` per node type (already gathered for the rows of a batch):

- ``numerical``: float32 [n, Dn], NaN where missing; normalised here with the training-cutoff
  mean / std held as buffers (saved with the weights), plus a missing-value indicator.
- ``categorical``: int64 [n, Dc], codes 0..size-1 of the training vocabulary; -1 (missing) and
  codes >= size (unseen at training time) share one extra bucket.
- ``timestamp``: float64 [n, Dt], seconds since epoch, NaN where missing; encoded as cyclic
  parts (month, weekday, hour) and as age relative to the row's seed time.
- ``text``: float32 [n, Dx], dense hashed vectors from the graph layer, through a linear layer.
- ``multicategorical``: one int64 [n, L] tensor per column, codes padded with -1.

:class:`RelativeTimeEncoder` turns ``seed time - node time`` (seconds) into a hidden vector;
the model adds it to every node's input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

SECONDS_PER_DAY = 86_400.0


@dataclass
class TableSpec:
    """What one table's encoder needs to build its layers (all from training-cutoff rows)."""

    numerical_mean: list[float] = field(default_factory=list)
    numerical_std: list[float] = field(default_factory=list)
    categorical_sizes: list[int] = field(default_factory=list)
    num_timestamp: int = 0
    text_dim: int = 0
    multicategorical_sizes: list[int] = field(default_factory=list)

    @property
    def num_numerical(self) -> int:
        return len(self.numerical_mean)

    def to_dict(self) -> dict:
        return {
            "numerical_mean": list(self.numerical_mean),
            "numerical_std": list(self.numerical_std),
            "categorical_sizes": list(self.categorical_sizes),
            "num_timestamp": self.num_timestamp,
            "text_dim": self.text_dim,
            "multicategorical_sizes": list(self.multicategorical_sizes),
        }

    @classmethod
    def from_dict(cls, data: dict) -> TableSpec:
        return cls(**data)


@dataclass
class TableInputs:
    """Raw feature tensors of some rows of one table (see the module docstring for shapes)."""

    numerical: Tensor | None = None
    categorical: Tensor | None = None
    timestamp: Tensor | None = None
    text: Tensor | None = None
    multicategorical: list[Tensor] = field(default_factory=list)

    def select(self, rows: Tensor) -> TableInputs:
        """The same features for ``rows`` (int64 positions), in that order."""
        return TableInputs(
            numerical=None if self.numerical is None else self.numerical[rows],
            categorical=None if self.categorical is None else self.categorical[rows],
            timestamp=None if self.timestamp is None else self.timestamp[rows],
            text=None if self.text is None else self.text[rows],
            multicategorical=[m[rows] for m in self.multicategorical],
        )


def _timestamp_features(ts: Tensor, seed_time: Tensor) -> Tensor:
    """float64 seconds [n, D] and seed seconds [n] -> float32 [n, D * 8] (cyclic parts, age, missing)."""
    missing = torch.isnan(ts)
    safe = torch.where(missing, seed_time.unsqueeze(1).expand_as(ts), ts)
    days = safe / SECONDS_PER_DAY
    day_of_year = torch.remainder(days, 365.2425) / 365.2425
    weekday = torch.remainder(days + 3.0, 7.0) / 7.0  # 1970-01-01 was a Thursday (weekday 3)
    hour = torch.remainder(days, 1.0)
    # Age in days relative to the seed: log scale, signed so future-dated values stay distinct.
    age = (seed_time.unsqueeze(1) - safe) / SECONDS_PER_DAY
    log_age = torch.sign(age) * torch.log1p(age.abs()) / 5.0
    parts = [
        torch.sin(2 * math.pi * day_of_year),
        torch.cos(2 * math.pi * day_of_year),
        torch.sin(2 * math.pi * weekday),
        torch.cos(2 * math.pi * weekday),
        torch.sin(2 * math.pi * hour),
        torch.cos(2 * math.pi * hour),
        log_age,
    ]
    feats = torch.stack([torch.where(missing, torch.zeros_like(p), p) for p in parts], dim=-1)
    feats = torch.cat([feats, missing.unsqueeze(-1).to(feats.dtype)], dim=-1)
    return feats.reshape(ts.shape[0], -1).float()


class TableEncoder(nn.Module):
    """Encodes the rows of one table: sum of per-semantic-type encodings, then LayerNorm.

    ``forward(inputs, seed_time)`` with ``seed_time`` float64 seconds [n] -> float32 [n, hidden].
    A table without feature columns encodes to a learned constant (its type embedding).
    """

    def __init__(self, spec: TableSpec, hidden: int) -> None:
        super().__init__()
        self.spec = spec
        self.type_embedding = nn.Parameter(torch.zeros(hidden))
        self.register_buffer("num_mean", torch.tensor(spec.numerical_mean, dtype=torch.float32))
        self.register_buffer("num_std", torch.tensor(spec.numerical_std, dtype=torch.float32))
        self.numerical = nn.Linear(2 * spec.num_numerical, hidden) if spec.num_numerical else None
        # One extra row per column: the shared bucket for missing and unseen categories.
        self.categorical = nn.ModuleList(nn.Embedding(size + 1, hidden) for size in spec.categorical_sizes)
        self.timestamp = nn.Linear(8 * spec.num_timestamp, hidden) if spec.num_timestamp else None
        self.text = nn.Linear(spec.text_dim, hidden) if spec.text_dim else None
        self.multicategorical = nn.ModuleList(
            nn.Embedding(size + 1, hidden, padding_idx=size) for size in spec.multicategorical_sizes
        )
        self.norm = nn.LayerNorm(hidden)

    def forward(self, inputs: TableInputs, seed_time: Tensor) -> Tensor:
        n = seed_time.shape[0]
        out = self.type_embedding.expand(n, -1)
        if self.numerical is not None and inputs.numerical is not None:
            raw = inputs.numerical.float()
            missing = torch.isnan(raw)
            scaled = ((raw - self.num_mean) / self.num_std).clamp(-10.0, 10.0)
            scaled = torch.where(missing, torch.zeros_like(scaled), scaled)
            out = out + self.numerical(torch.cat([scaled, missing.float()], dim=1))
        if len(self.categorical) and inputs.categorical is not None:
            for j, emb in enumerate(self.categorical):
                codes = inputs.categorical[:, j]
                bucket = emb.num_embeddings - 1
                codes = torch.where((codes < 0) | (codes >= bucket), torch.full_like(codes, bucket), codes)
                out = out + emb(codes)
        if self.timestamp is not None and inputs.timestamp is not None:
            out = out + self.timestamp(_timestamp_features(inputs.timestamp.double(), seed_time.double()))
        if self.text is not None and inputs.text is not None:
            out = out + self.text(inputs.text.float())
        for emb, codes in zip(self.multicategorical, inputs.multicategorical):
            pad = emb.num_embeddings - 1
            codes = torch.where((codes < 0) | (codes >= pad), torch.full_like(codes, pad), codes)
            count = (codes != pad).sum(dim=1, keepdim=True).clamp(min=1)
            out = out + emb(codes).sum(dim=1) / count
        return self.norm(out)


class RelativeTimeEncoder(nn.Module):
    """``seed time - node time`` in seconds [n] -> [n, hidden]: log-scaled age plus sinusoids.

    Sinusoid periods span a day to about ten years, so both "the race last week" and
    "the season five years ago" are distinguishable.
    """

    def __init__(self, hidden: int, num_frequencies: int = 8) -> None:
        super().__init__()
        periods_days = torch.logspace(0, math.log10(3650.0), num_frequencies)
        self.register_buffer("angular", 2 * math.pi / periods_days)
        self.linear = nn.Linear(2 * num_frequencies + 2, hidden)

    def features(self, rel_time: Tensor) -> Tensor:
        days = rel_time.double().clamp(min=0.0) / SECONDS_PER_DAY
        angles = days.unsqueeze(1) * self.angular.double().unsqueeze(0)
        log_days = torch.log1p(days).unsqueeze(1) / 5.0
        is_now = (days == 0).double().unsqueeze(1)
        return torch.cat([torch.sin(angles), torch.cos(angles), log_days, is_now], dim=1).float()

    def forward(self, rel_time: Tensor) -> Tensor:
        return self.linear(self.features(rel_time))
