"""A run folder read back (``relgraph train --out DIR``, layout in :mod:`relgraph.runs.runner`):
its config, metrics and kept model, the database opened as at training, and the prediction frame
every consumer of a run shares. Below the runner, so what reads a run (the API, explanations)
needs nothing of training.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport (a dependency there)
    import tomli as tomllib

from relgraph.database import Database, connect
from relgraph.errors import ModelError
from relgraph.predictor import Predictor
from relgraph.query import entity_database
from relgraph.query.task import TaskTables
from relgraph.runs import registry
from relgraph.runs.blend import BlendPredictor
from relgraph.schema_check import check_schema, trained_tables_only

CONFIG_FILE = "config.json"


def load_model(run_dir: Path, kind: str | None = None) -> Predictor:
    """The predictor kept in ``run_dir`` (or the one named ``kind``); a blend with its members
    from ``run_dir/gnn`` and ``run_dir/lightgbm``."""
    config = read_config(run_dir)
    kind = kind or config["model"]
    if kind == "blend" and config.get("task_type") != "ranking":
        return BlendPredictor.load(Path(run_dir) / "blend")
    if kind not in registry.KINDS:
        raise ModelError(f"{run_dir}: unknown model {kind!r} in {CONFIG_FILE}")
    return registry.load_model(kind, config.get("task_type"), Path(run_dir) / kind)


def read_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise ModelError(f"{run_dir} is not a relgraph run folder ({CONFIG_FILE} missing); pass `relgraph train --out` DIR")
    return json.loads(path.read_text())


def prediction_frame(
    task: TaskTables | dict[str, Any], frame: pd.DataFrame, pred: np.ndarray, threshold: float,
    classes: list[Any] | None = None,
) -> pd.DataFrame:
    """``frame``'s entity key and timestamp (and label when present) with prediction columns:
    binary ``probability`` + ``prediction`` (0/1 at ``threshold``); regression ``prediction``;
    multiclass ``prediction`` (class) + ``probability`` (of that class)."""
    task_type = task.task_type if isinstance(task, TaskTables) else task["task_type"]
    key = task.entity_key if isinstance(task, TaskTables) else task["entity_key"]
    out = frame[[c for c in (key, "timestamp", "label") if c in frame.columns]].reset_index(drop=True).copy()
    if task_type == "binary":
        out["probability"] = pred
        out["prediction"] = (pred >= threshold).astype("int64")
    elif task_type == "regression":
        out["prediction"] = pred
    elif task_type == "multiclass":
        assert classes is not None
        out["prediction"] = np.asarray(classes, dtype=object)[pred.argmax(axis=1)] if len(pred) else []
        out["probability"] = pred.max(axis=1) if len(pred) else []
    else:
        out["prediction"] = [[i for i in p if i is not None] for p in pred]  # rankers pad with None
    return out




class RunFolder:
    """A trained run read from its folder: ``metrics`` (metrics.json), ``config`` (config.json),
    ``model`` (the kept predictor, loaded on first use), ``directory`` (the run folder)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.config: dict[str, Any] = read_config(self.directory)
        self._model: Predictor | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        """``{"task", "model", "val", "test", "baselines": {name: {"val", "test"}}}``."""
        return json.loads((self.directory / "metrics.json").read_text())

    @property
    def model(self) -> Predictor:
        if self._model is None:
            self._model = load_model(self.directory)
        return self._model

    @property
    def task_type(self) -> str:
        """``binary`` | ``regression`` | ``multiclass`` | ``ranking``."""
        return str(self.config["task_type"])

    @property
    def entity_table(self) -> str:
        return str(self.config["entity_table"])

    @property
    def entity_key(self) -> str:
        return str(self.config["entity_key"])

    @property
    def query(self) -> str | None:
        """The predictive query the run was trained for (None for given task tables)."""
        return self.config.get("source", {}).get("query")

    def check_schema(self, db: Database) -> None:
        """``ModelError`` (one line) when ``db`` no longer matches the schema the run was trained on."""
        check_schema(tomllib.loads((self.directory / "schema.toml").read_text()), db)

    def connect(self, source: str | Database, schema: str | None = None) -> Database:
        """``source`` opened as at training: with ``schema``, else the run's schema file when training
        used one, restricted to the tables the run was trained on (those of its ``schema.toml``):
        tables the source has grown since, such as written predictions, are left out. A
        :class:`Database` is restricted the same way. A query's ``FOR EACH`` column made an
        entity at training (``query.entity_database``) is made again."""
        trained = tomllib.loads((self.directory / "schema.toml").read_text())["tables"]
        if not isinstance(source, Database):
            if schema is None and self.config.get("schema_file"):
                schema = str(self.directory / "schema.toml")
            source = connect(source, schema=schema)
        if self.query:  # an entity made for the query's FOR EACH column is made again
            source = entity_database(source, self.query)
        return trained_tables_only(source, trained)
