"""Column encoders: one per table, turning a row's raw column values into one hidden vector.

Inputs come as a :class:`TableInputs` per node type (already gathered for the rows of a batch):

- ``numerical``: float32 [n, Dn], already standardised with training-cutoff statistics
  (``relgraph.graph.columns.normalize``), 0 where missing; ``numerical_missing`` float32
  [n, Dn], 1 where missing.
- ``categorical``: int64 [n, Dc], 0 missing, 1..k seen by the training cutoff, k + 1 the shared
  bucket for values unseen at training time (cardinality k + 2); larger codes fall in it too.
- ``timestamp``: float64 [n, Dt], seconds since epoch, NaN where missing; encoded as cyclic
  parts (month, weekday, hour) and as age relative to the row's seed time.
- ``text``: float32 [n, Dx], dense hashed vectors from the graph layer, through a linear layer.
- ``multicategorical``: float32 [n, K] multi-hot over the training vocabulary (all columns).
- ``seen_from``: optional int64 [n], static tables: the time from which the row's text is known to
  the model (``relgraph.graph.seen.seen_from``); before it (or never) the text counts as missing.

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

    num_numerical: int = 0
    categorical_cardinality: list[int] = field(default_factory=list)
    num_timestamp: int = 0
    text_dim: int = 0
    multicategorical_dim: int = 0


@dataclass
class TableInputs:
    """Raw feature tensors of some rows of one table (see the module docstring for shapes)."""

    numerical: Tensor | None = None
    numerical_missing: Tensor | None = None
    categorical: Tensor | None = None
    timestamp: Tensor | None = None
    text: Tensor | None = None
    multicategorical: Tensor | None = None
    seen_from: Tensor | None = None

    def select(self, rows: Tensor) -> TableInputs:
        """The same features for ``rows`` (int64 positions), in that order."""
        return TableInputs(**{k: None if v is None else v[rows] for k, v in self.__dict__.items()})


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
        self.numerical = nn.Linear(2 * spec.num_numerical, hidden) if spec.num_numerical else None
        self.categorical = nn.ModuleList(nn.Embedding(size, hidden) for size in spec.categorical_cardinality)
        self.timestamp = nn.Linear(8 * spec.num_timestamp, hidden) if spec.num_timestamp else None
        self.text = nn.Linear(spec.text_dim, hidden) if spec.text_dim else None
        self.multicategorical = (
            nn.Linear(spec.multicategorical_dim, hidden, bias=False) if spec.multicategorical_dim else None
        )
        self.norm = nn.LayerNorm(hidden)
        #: Training only: share of categorical codes replaced by the unseen bucket, so that bucket
        #: is learned (rows at or before the training cutoff never hold an unseen value).
        self.unseen_dropout = 0.0
        #: Training only: share of rows whose text is zeroed, as the text of unseen static rows is
        #: (``FeatureStore(unseen_static=True)``), so the model learns what "no known text" means.
        #: Only inputs with ``seen_from`` (static tables dated by their references): a timed table's
        #: text is never unseen, and dropping it only regularises (demo, Stack: validation -0.2).
        self.text_dropout = 0.0

    def forward(self, inputs: TableInputs, seed_time: Tensor) -> Tensor:
        n = seed_time.shape[0]
        out = self.type_embedding.expand(n, -1)
        if self.numerical is not None and inputs.numerical is not None:
            missing = inputs.numerical_missing
            if missing is None:
                missing = torch.zeros_like(inputs.numerical)
            out = out + self.numerical(torch.cat([inputs.numerical.float(), missing.float()], dim=1))
        if len(self.categorical) and inputs.categorical is not None:
            for j, emb in enumerate(self.categorical):
                unseen = emb.num_embeddings - 1
                codes = inputs.categorical[:, j].clamp(min=0, max=unseen)
                if self.training and self.unseen_dropout > 0:
                    drop = torch.rand(codes.shape, device=codes.device) < self.unseen_dropout
                    codes = torch.where(drop & (codes > 0), torch.full_like(codes, unseen), codes)
                out = out + emb(codes)
        if self.timestamp is not None and inputs.timestamp is not None:
            out = out + self.timestamp(_timestamp_features(inputs.timestamp.double(), seed_time.double()))
        if self.text is not None and inputs.text is not None:
            text = inputs.text.float()
            if inputs.seen_from is not None:  # rows unseen at their seed's time: no trained text map for them
                text = text * (inputs.seen_from.double() <= seed_time.double()).unsqueeze(1)
            if self.training and self.text_dropout > 0 and inputs.seen_from is not None:
                keep = torch.rand(n, 1, device=text.device) >= self.text_dropout
                text = text * keep
            out = out + self.text(text)
        if self.multicategorical is not None and inputs.multicategorical is not None:
            out = out + self.multicategorical(inputs.multicategorical.float())
        return self.norm(out)


class RelativeTimeEncoder(nn.Module):
    """``seed time - node time`` in seconds [n] -> [n, hidden]: log-scaled age plus sinusoids.

    Sinusoid periods span a day to about ten years, so both "the race last week" and
    "the season five years ago" are distinguishable. The eight default periods are calendar
    ones (day, week, month, quarter, half year, year, two years, ten years): with an exact
    one-year period the phase says where an anniversary falls (yearly badges, seasons).
    """

    CALENDAR_PERIODS_DAYS = (1.0, 7.0, 30.44, 91.31, 182.62, 365.2425, 730.485, 3652.425)

    def __init__(self, hidden: int, num_frequencies: int = 8) -> None:
        super().__init__()
        if num_frequencies == len(self.CALENDAR_PERIODS_DAYS):
            periods_days = torch.tensor(self.CALENDAR_PERIODS_DAYS, dtype=torch.float64)
        else:
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
