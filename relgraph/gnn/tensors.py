"""Model inputs from a graph, in the feature space frozen at the training cutoff.

:class:`FeatureStore` keeps the graph layer's :class:`~relgraph.graph.FeatureStats` fitted at the
training cutoff (saved with the model as JSON). Applied to any later graph (the database grown,
or cut for a leakage test), ``normalize`` matches categories by value, so a category keeps its
embedding and values unseen by the cutoff fall into the shared bucket.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from relgraph.errors import ModelError
from relgraph.graph import FeatureStats, TemporalGraph, normalize
from relgraph.graph.seen import seen_from
from relgraph.nn.encoders import TableInputs, TableSpec


class FeatureStore:
    """Training-cutoff feature statistics of every table; turns a graph into full-table tensors.

    ``indicators``: numerical inputs gain an "equals the dominant value" column per column that has
    one. ``unseen_static``: rows of static tables that no timed row at or before the cutoff
    references are unseen (their new categories fall in the unseen bucket) and the text of a static
    row counts only from its first reference by the cutoff on (``TableInputs.seen_from``).
    """

    def __init__(self, stats: FeatureStats, text_dims: dict[str, int], indicators: bool = False,
                 unseen_static: bool = False) -> None:
        self.stats = stats
        self.text_dims = text_dims
        self.indicators = indicators
        self.unseen_static = unseen_static

    @classmethod
    def fit(cls, graph: TemporalGraph, cutoff_seconds: int, indicators: bool = False,
            unseen_static: bool = False) -> FeatureStore:
        """Freeze the feature space from rows with time <= ``cutoff_seconds`` only."""
        stats = graph.feature_stats(int(cutoff_seconds), static_by_reference=unseen_static)
        text_dims = {name: int(f.text.shape[1]) for name, f in graph.features.items()}
        return cls(stats, text_dims, indicators, unseen_static)

    def specs(self) -> dict[str, TableSpec]:
        """Encoder shapes per table."""
        return {
            name: TableSpec(
                num_numerical=len(ts.numerical_names) + (ts.num_indicators if self.indicators else 0),
                categorical_cardinality=ts.categorical_cardinality,
                num_timestamp=len(ts.timestamp_names),
                text_dim=self.text_dims[name],
                multicategorical_dim=ts.multicategorical_dim,
            )
            for name, ts in self.stats.tables.items()
        }

    def inputs(self, graph: TemporalGraph) -> dict[str, TableInputs]:
        """Full-table inputs of ``graph``; ``ModelError`` when a table or its feature columns differ."""
        out = {}
        for name, ts in self.stats.tables.items():
            if name not in graph.features:
                raise ModelError(f"table {name!r} the model was trained on is missing from the database")
            feats = graph.features[name]
            if feats.text.shape[1] != self.text_dims[name]:
                raise ModelError(
                    f"table {name!r}: text columns {feats.text_names} differ from the trained ones; "
                    "use the schema the model was trained with"
                )
            norm = normalize(feats, ts, name, indicators=self.indicators)
            seen = seen_from(graph, name, self.stats.cutoff) if self.unseen_static else None
            out[name] = TableInputs(
                numerical=torch.from_numpy(norm.numerical),
                numerical_missing=torch.from_numpy(norm.numerical_missing),
                categorical=torch.from_numpy(norm.categorical),
                # Raw seconds: the encoder takes calendar parts and the age at the seed time.
                timestamp=_shared(np.ascontiguousarray(norm.timestamp, dtype=np.float64)),
                text=_shared(np.ascontiguousarray(norm.text, dtype=np.float32)),
                multicategorical=torch.from_numpy(norm.multicategorical),
                seen_from=None if seen is None else torch.from_numpy(seen),
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.to_dict(), "text_dims": self.text_dims, "indicators": self.indicators,
                "unseen_static": self.unseen_static}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureStore:
        return cls(FeatureStats.from_dict(data["stats"]), {k: int(v) for k, v in data["text_dims"].items()},
                   bool(data.get("indicators", False)), bool(data.get("unseen_static", False)))


def _shared(array: np.ndarray) -> torch.Tensor:
    """A tensor over ``array`` without a copy, also when it is a read-only memory map (``graph.mmap``):
    the tensors are only read (rows gathered per batch), so torch's not-writable warning is moot."""
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)
