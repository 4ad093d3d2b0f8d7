"""The run and the request as the explainers and the service see them: a run folder loaded once
(:class:`LoadedRun`, over :class:`~relgraph.runs.folder.RunFolder`: loading, opening the database
and checking its schema are the run's own), and ids and times checked against the database
(cached per database: key indexes and the time span)."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.errors import ModelError, QueryError
from relgraph.query import parse
from relgraph.query.splits import label_events
from relgraph.runs.explain.models import blend_parts, kind_of
from relgraph.runs.explain.neighbourhood import lightgbm_predict
from relgraph.runs.folder import RunFolder, load_model, prediction_frame


class UnknownIdError(QueryError):
    """An id that is no row of the entity table (the service answers 404)."""


def check_ids(db: Database, run: RunFolder, ids: list[Any], at: pd.Timestamp) -> list[Any]:
    """``ids`` as values of the entity key column; ``QueryError`` (one line) for an unknown id or
    one whose row is newer than ``at``."""
    if not isinstance(ids, list) or not ids:
        raise QueryError("give at least one id")
    table, key = run.entity_table, run.entity_key
    index = _key_index(db, table, key)
    column = index
    out = []
    numeric = pd.api.types.is_integer_dtype(column.dtype)
    for value in ids:
        if isinstance(value, (dict, list)) or value is None or isinstance(value, bool):
            raise QueryError(f"id {value!r} is not a {table}.{key} value")
        cast: Any = value
        if numeric:
            try:
                cast = int(value)
            except (TypeError, ValueError):
                raise QueryError(f"id {value!r} is not a {table}.{key} value (integers)") from None
            if isinstance(value, float) and value != cast:
                raise QueryError(f"id {value!r} is not a {table}.{key} value (integers)")
        elif not isinstance(value, str):
            cast = str(value)
        if cast not in index:
            raise UnknownIdError(f"unknown id {value!r}: no {table} row has {key} = {value!r}")
        out.append(cast)
    times = db.row_times(table)
    if times is not None:
        positions = index.get_indexer(out)
        late = [v for v, p in zip(out, positions) if np.isnat(times[p]) or times[p] > np.datetime64(at, "ns")]
        if late:
            raise QueryError(f"id {late[0]!r}: its {table} row is not known at {at} (created later)")
    return out


#: Per database: entity key indexes and the time span (each request would otherwise scan for them).
_CACHE: weakref.WeakKeyDictionary[Database, dict[Any, Any]] = weakref.WeakKeyDictionary()


def _key_index(db: Database, table: str, key: str) -> pd.Index:
    cache = _CACHE.setdefault(db, {})
    if ("keys", table, key) not in cache:
        cache[("keys", table, key)] = pd.Index(db.tables[table].column(key).to_pandas())
    return cache[("keys", table, key)]


def _time_span(db: Database) -> Any:
    cache = _CACHE.setdefault(db, {})
    if "span" not in cache:
        cache["span"] = db.time_span()
    return cache["span"]


def default_at(db: Database, query: Any = None) -> pd.Timestamp:
    """The prediction time when none is given: where the query's target rows end (stray late rows
    left out, as the training cutoffs do), not the latest row of any table: a database whose
    hall-of-fame table runs a season past its batting lines would otherwise be asked about a season
    nobody has batted in yet. Without a query (a run trained on task tables): the latest row time."""
    if not query:
        span = _time_span(db)
        if span is None:
            raise QueryError("the database has no timed rows: give a prediction time (--at / \"at\")")
        return pd.Timestamp(span[1])
    cache = _CACHE.setdefault(db, {})
    if ("end", str(query)) not in cache:
        cache[("end", str(query))] = label_events(db, parse(query) if isinstance(query, str) else query).end
    return cache[("end", str(query))]


def check_at(db: Database, at: pd.Timestamp) -> pd.Timestamp:
    """``at`` between the database's first row time and now (the later of the last row time and
    the clock, plus a day of slack), else a one-line ``QueryError``: before the first row nothing
    exists, and a time that has not come yet has no rows to see."""
    span = _time_span(db)
    if span is None:
        return at
    lo = pd.Timestamp(span[0])
    hi = max(pd.Timestamp(span[1]), pd.Timestamp.now(tz="UTC").tz_localize(None)) + pd.Timedelta(days=1)
    if at < lo or at > hi:
        raise QueryError(f"at={at} is outside the database's time range {lo} .. now")
    return at


class LoadedRun(RunFolder):
    """A run folder (:class:`~relgraph.runs.folder.RunFolder`, which ``relgraph.load``'s
    :class:`~relgraph.runs.api.Run` extends) as the explainers see it: its kept model (or the member
    ``kind`` it also trained), the model's explainer kind (:func:`kind_of`) and the prediction for
    a few ids (:meth:`predict_ids`). Loading, opening the database and checking its schema are
    the run folder's own (:mod:`relgraph.runs.folder`)."""

    def __init__(self, directory: str | Path, kind: str | None = None) -> None:
        super().__init__(directory)
        if kind is not None:
            if kind not in self.config.get("models", []):
                raise ModelError(f"{self.directory} has no {kind} model; it trained {self.config.get('models')}")
            self._model = load_model(self.directory, kind)
        self.kind = kind_of(self.model)

    @classmethod
    def of(cls, run: RunFolder | str | Path) -> LoadedRun:
        """``run`` itself when already a :class:`LoadedRun`; a :class:`RunFolder` (its loaded model
        shared) or a run folder otherwise."""
        if isinstance(run, LoadedRun):
            return run
        if not isinstance(run, RunFolder):
            return cls(run)
        loaded = cls.__new__(cls)  # the folder is read already: share its config and model
        loaded.directory, loaded.config, loaded._model = run.directory, run.config, run.model
        loaded.kind = kind_of(loaded._model)
        return loaded

    @property
    def run_dir(self) -> Path:
        return self.directory

    def predict_ids(self, db: Database, ids: list[Any], at: pd.Timestamp) -> pd.DataFrame:
        """Predictions for ``ids`` at ``at`` (checked) on ``db`` (opened by :meth:`connect`), framed
        by :func:`~relgraph.runs.folder.prediction_frame` as ``relgraph predict`` frames them
        (ranking: ``prediction`` ids and ``score``). A few ids on a LightGBM model (or a blend's
        LightGBM member) read only their neighbourhood (:func:`lightgbm_predict`)."""
        frame = pd.DataFrame({self.entity_key: ids, "timestamp": pd.Timestamp(at)})
        if self.task_type == "ranking":
            top, scores = self.model.rank(db, frame)  # type: ignore[attr-defined]
            out = prediction_frame(self.config, frame, top, self.config["threshold"])
            out["score"] = [[float(v) for v in row if not np.isnan(v)] for row in scores]
            return out
        if self.kind == "lightgbm":
            pred = lightgbm_predict(self.model, db, frame)
        elif self.kind == "blend":
            members, _ = blend_parts(self.model)
            pred = self.model.combine({"gnn": members["gnn"].predict(db, frame),  # type: ignore[attr-defined]
                                       "lightgbm": lightgbm_predict(members["lightgbm"], db, frame)})
        else:
            pred = self.model.predict(db, frame)
        return prediction_frame(self.config, frame, pred, self.config["threshold"], self.config.get("classes"))

    def schema_fingerprint(self) -> str:
        """A hash of the schema the run was trained on (tables, keys, column types, times)."""
        import hashlib

        text = (self.directory / "schema.toml").read_text() if (self.directory / "schema.toml").exists() else ""
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_run(run_dir: str | Path, kind: str | None = None) -> LoadedRun:
    """The run in ``run_dir`` with its kept model loaded (``relgraph train --out`` folder), or
    the model of ``kind`` it also trained (``gnn`` / ``lightgbm`` / ``blend``)."""
    return LoadedRun(run_dir, kind)


def parse_at(at: object, db: Database, query: Any = None) -> pd.Timestamp:
    """The prediction time: ``at`` parsed, or (none given) :func:`default_at` of ``query``."""
    if at is None or at == "":
        return default_at(db, query)
    try:
        ts = pd.Timestamp(at)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError) as err:
        raise QueryError(f"at={at!r} is not a timestamp; use e.g. 2024-01-31 or 2024-01-31T12:00") from err
    if ts is pd.NaT:
        raise QueryError(f"at={at!r} is not a timestamp; use e.g. 2024-01-31 or 2024-01-31T12:00")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts
