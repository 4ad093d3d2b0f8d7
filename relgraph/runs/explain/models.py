"""The one place of ``relgraph.explain`` / ``relgraph.serve`` that knows relgraph's predictor classes.

Everything else asks these adapters: which kind a predictor is (:func:`kind_of`), a loaded run
(:class:`LoadedRun`: config, kept model, database opened like ``relgraph predict`` does), a blend's
members and weight, a LightGBM model's boosters and feature builder, a GNN's sampler and forward
pass. When the model classes move (``relgraph.train`` refactor), only this module changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.errors import ModelError, QueryError

#: Kinds :func:`kind_of` answers.
KINDS = ("gnn", "lightgbm", "blend", "ranking_gnn", "ranking_lightgbm")


def kind_of(model: Any) -> str:
    """``gnn`` | ``lightgbm`` | ``blend`` | ``ranking_gnn`` | ``ranking_lightgbm`` for a loaded predictor."""
    name = type(model).__name__
    kinds = {
        "GNNPredictor": "gnn",
        "LightGBMPredictor": "lightgbm",
        "BlendPredictor": "blend",
        "RankingGNNPredictor": "ranking_gnn",
        "LightGBMRanker": "ranking_lightgbm",
    }
    if name not in kinds:
        raise ModelError(f"relgraph cannot explain a {name}; explain a GNN, LightGBM or blend run")
    return kinds[name]


def blend_parts(model: Any) -> tuple[dict[str, Any], float]:
    """A blend's members ``{"gnn": ..., "lightgbm": ...}`` and the GNN's weight."""
    assert model.weight_ is not None
    return dict(model.members), float(model.weight_)


def lightgbm_parts(model: Any) -> tuple[list[Any], list[int], Any, dict[str, Any]]:
    """A LightGBM predictor's boosters, their iterations, its feature builder and its meta."""
    return list(model.boosters_), list(model.meta_["iterations"]), model.builder, dict(model.meta_)


def entity_of(model: Any) -> tuple[str, str]:
    """(entity table, entity key) a non-ranking predictor predicts for."""
    kind = kind_of(model)
    if kind == "blend":
        return entity_of(model.members["gnn"])
    if kind == "lightgbm":
        return model.meta_["entity_table"], model.meta_["entity_key"]
    if kind == "ranking_lightgbm":
        return model.spec.entity_table, model.spec.entity_key
    return model.entity_table, model.entity_key


#: Ids up to which a LightGBM prediction reads only the entities' neighbourhood.
NEIGHBOURHOOD_MAX_IDS = 32


def lightgbm_predict(model: Any, db: Database, frame: pd.DataFrame) -> np.ndarray:
    """``model.predict`` on the entities' neighbourhood (:mod:`relgraph.explain.neighbourhood`)
    for a few ids, on ``db`` otherwise (or when the neighbourhood is not exact for this model)."""
    from relgraph.explain.neighbourhood import restrict

    _, _, builder, meta = lightgbm_parts(model)
    keys = list(pd.unique(frame[meta["entity_key"]]))
    small = restrict(db, builder, keys) if 0 < len(keys) <= NEIGHBOURHOOD_MAX_IDS else None
    return model.predict(small if small is not None else db, frame)


@dataclass
class GNNParts:
    """What the GNN explainer needs of a fitted GNN on one database."""

    model: Any  # the torch module (RelGNN)
    inputs: dict[str, Any]  # node type -> TableInputs of the whole table
    sampler: Any  # TemporalSampler
    entity_table: str
    seed_rng: list[int]  # the RNG seed predict uses for a first batch (same subgraph as predict)
    task_type: str
    graph: Any


def gnn_parts(model: Any, db: Database) -> GNNParts:
    """The GNN's module, inputs and sampler for ``db`` (through its own ``_prepare``: same
    schema check, graph cache and sampler as ``predict``)."""
    import torch

    torch.set_num_threads(model.config.num_threads)
    graph, inputs, sampler = model._prepare(db)
    return GNNParts(model.model, inputs, sampler, model.entity_table, [model.config.seed, 1_000_003, 0],
                    model.task_type, graph)


def gnn_seed_rows(model: Any, db: Database, frame: pd.DataFrame) -> np.ndarray:
    """Entity key values -> row positions (the GNN's own lookup, with its error messages)."""
    return model._seed_rows(db, frame)


def gnn_forward(model: Any, batch: Any, parts: GNNParts) -> Any:
    """Raw head output of the GNN for a sampled batch (its own ``_forward``)."""
    return model._forward(batch, parts.inputs)


@dataclass
class LoadedRun:
    """A run folder loaded once: config, metrics, the kept model (members for a blend)."""

    run_dir: Path
    config: dict[str, Any]
    model: Any
    kind: str
    query: str | None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def task_type(self) -> str:
        return str(self.config["task_type"])

    @property
    def entity_table(self) -> str:
        return str(self.config["entity_table"])

    @property
    def entity_key(self) -> str:
        return str(self.config["entity_key"])

    def connect(self, source: str, schema: str | None = None) -> Database:
        """``source`` opened as ``relgraph predict`` opens it (the run's schema file, the trained tables only)."""
        from relgraph.cli.predict import connect_like_run

        return connect_like_run(source, self.run_dir, schema)

    def predict(self, db: Database, ids: list[Any], at: pd.Timestamp) -> pd.DataFrame:
        """Predictions for ``ids`` at ``at`` through the run's own predict path (frame with the
        prediction columns of ``relgraph predict``; ranking: ``prediction`` ids and ``score``).
        A few ids on a LightGBM model (or a blend's LightGBM member) read only their neighbourhood
        (:func:`lightgbm_predict`)."""
        from relgraph.train.runner import prediction_frame

        frame = pd.DataFrame({self.entity_key: ids, "timestamp": pd.Timestamp(at)})
        if self.task_type == "ranking":
            top, scores = self.model.rank(db, frame)
            out = prediction_frame(self.config, frame, top, self.config["threshold"])
            out["score"] = [[float(v) for v in row if not np.isnan(v)] for row in scores]
            return out
        if self.kind == "lightgbm":
            pred = lightgbm_predict(self.model, db, frame)
        elif self.kind == "blend":
            members, _ = blend_parts(self.model)
            pred = self.model.combine({"gnn": members["gnn"].predict(db, frame),
                                       "lightgbm": lightgbm_predict(members["lightgbm"], db, frame)})
        else:
            pred = self.model.predict(db, frame)
        return prediction_frame(self.config, frame, pred, self.config["threshold"], self.config.get("classes"))

    def check_schema(self, db: Database) -> None:
        """``ModelError`` (one line) when ``db`` no longer matches the schema the run was trained on."""
        import tomllib

        from relgraph.train.schema_check import check_schema

        check_schema(tomllib.loads((self.run_dir / "schema.toml").read_text()), db)

    def schema_fingerprint(self) -> str:
        """A hash of the schema the run was trained on (tables, keys, column types, times)."""
        import hashlib

        text = (self.run_dir / "schema.toml").read_text() if (self.run_dir / "schema.toml").exists() else ""
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_run(run_dir: str | Path, kind: str | None = None) -> LoadedRun:
    """The run in ``run_dir`` with its kept model loaded (``relgraph train --out`` folder), or
    the model of ``kind`` it also trained (``gnn`` / ``lightgbm`` / ``blend``)."""
    from relgraph.train.runner import load_model, read_config

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if kind is not None and kind not in config.get("models", []):
        raise ModelError(f"{run_dir} has no {kind} model; it trained {config.get('models')}")
    model = load_model(run_dir, kind)
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    query = config.get("source", {}).get("query")
    return LoadedRun(run_dir, config, model, kind_of(model), query, metrics)


def parse_at(at: object, db: Database) -> pd.Timestamp:
    """The prediction time: ``at`` parsed, or the latest time in ``db`` (as ``relgraph predict``)."""
    if at is None or at == "":
        from relgraph.explain import _time_span

        span = _time_span(db)
        if span is None:
            raise QueryError("the database has no timed rows: give a prediction time (--at / \"at\")")
        return pd.Timestamp(span[1])
    try:
        ts = pd.Timestamp(at)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError) as err:
        raise QueryError(f"at={at!r} is not a timestamp; use e.g. 2024-01-31 or 2024-01-31T12:00") from err
    if ts is pd.NaT:
        raise QueryError(f"at={at!r} is not a timestamp; use e.g. 2024-01-31 or 2024-01-31T12:00")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts
