"""Run a planned query: training tables of (entity, timestamp, label) rows, and whole tasks."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import duckdb
import numpy as np
import pandas as pd

from relgraph.engines import engine_for
from relgraph.errors import QueryError
from relgraph.query.ast import Query
from relgraph.query.checks import check_task, late_entity_time
from relgraph.query.for_each import entity_database
from relgraph.query.parser import parse
from relgraph.query.planner import plan
from relgraph.query.row_cutoffs import plan_from_rows
from relgraph.query.splits import SplitPlan, plan_splits, split_basis
from relgraph.query.task import TaskTables
from relgraph.query.validator import ResolvedQuery, validate

SPLITS = ("train", "val", "test")


def _timestamps_frame(timestamps: Iterable[object]) -> pd.DataFrame:
    values = pd.to_datetime(pd.Series(list(timestamps), dtype=object), errors="coerce")
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert(None)
    if values.isna().any():
        raise QueryError("timestamps contain a missing or unreadable value; pass dates like 2010-01-01")
    return pd.DataFrame({"ts": values.astype("datetime64[ns]").drop_duplicates().to_numpy()})


def _resolve(db: object, query: Query | str | ResolvedQuery) -> ResolvedQuery:
    if isinstance(query, ResolvedQuery):
        return query
    parsed = parse(query) if isinstance(query, str) else query
    return validate(parsed, db.schema)  # type: ignore[attr-defined]


def _with_entity(db: object, query: Query | str | ResolvedQuery) -> object:
    """``db`` with the query's FOR EACH column made an entity when it names no table (``query.for_each``)."""
    if isinstance(query, ResolvedQuery):
        return db
    return entity_database(db, query)  # type: ignore[arg-type]


def make_training_table(
    db: object, query: Query | str | ResolvedQuery, timestamps: Iterable[object]
) -> pd.DataFrame:
    """Rows ``[<entity key>, "timestamp", "label"]`` for every entity existing at each timestamp
    that passes WHERE / ASSUMING and has a label, sorted by (timestamp, entity key).

    Args:
        db: a :class:`relgraph.database.Database`, queried on its engine (``relgraph.engines``:
            DuckDB by default, Spark with ``engine="spark"``).
        query: PQL text, a parsed :class:`Query` or a :class:`ResolvedQuery`.
        timestamps: prediction times (anything ``pd.to_datetime`` reads; duplicates ignored).

    Label dtypes: binary int64 (0/1), regression float64, multiclass the column's own type,
    ranking a sorted ``list`` of target ids.
    """
    db = _with_entity(db, query)
    resolved = _resolve(db, query)
    relation = f"__rg_timestamps_{uuid.uuid4().hex}"
    sql_plan = plan(db.schema, resolved, timestamps_relation=relation)  # type: ignore[attr-defined]
    engine = engine_for(db)
    engine.register(relation, _timestamps_frame(timestamps))
    try:
        frame = engine.execute(sql_plan.sql, sql_plan.params).to_pandas()
    except duckdb.Error as err:
        reason = str(err).splitlines()[0]
        raise QueryError(
            f"the planned SQL failed in DuckDB ({reason}); see it with relgraph query --explain"
        ) from err
    finally:
        engine.unregister(relation)
    frame["timestamp"] = frame["timestamp"].astype("datetime64[ns]")
    if resolved.task_type == "binary":
        frame["label"] = frame["label"].astype("int64")
    elif resolved.task_type == "regression":
        frame["label"] = frame["label"].astype("float64")
    elif resolved.task_type == "ranking":
        frame["label"] = pd.Series(
            [np.asarray(ids).tolist() for ids in frame["label"]], index=frame.index, dtype=object
        )
    return frame.reset_index(drop=True)


def build_task(
    db: object,
    query: Query | str,
    val_cutoff: object = None,
    test_cutoff: object = None,
    timestamps: dict[str, Iterable[object]] | None = None,
    check: bool | None = None,
) -> TaskTables:
    """Train / val / test tables for ``query`` on ``db``.

    Args:
        val_cutoff, test_cutoff: split starts; defaults from the data (see :mod:`relgraph.query.splits`).
        timestamps: explicit prediction times per split (``{"train": [...], "val": [...],
            "test": [...]}``), used instead of the cutoffs.
        check: stop on an empty or single-class split (see Raises); default: when the
            timestamps come from cutoffs (given or chosen), not when they are given.

    Raises:
        QueryError: a split is empty or its labels have a single class, with the cause and what
            to change (:mod:`relgraph.query.checks`).

    The three splits come from one SQL run over the union of their timestamps.
    """
    parsed = parse(query) if isinstance(query, str) else query
    db = _with_entity(db, parsed)
    resolved = validate(parsed, db.schema)  # type: ignore[attr-defined]
    split_plan = None
    if timestamps is None:
        split_plan = plan_splits(db, parsed, val_cutoff, test_cutoff)
        per_split = split_plan.timestamps
    else:
        missing = [name for name in SPLITS if name not in timestamps]
        if missing:
            raise QueryError(f"timestamps lack the split(s) {', '.join(missing)}; give train, val and test")
        per_split = {name: list(timestamps[name]) for name in SPLITS}
    frames = _split_frames(make_training_table(db, resolved, _all_stamps(per_split)), per_split)
    if check if check is not None else split_plan is not None:
        # An empty or single-class split stops here, saying why (never a silent degenerate task).
        try:
            check_task(db, resolved, per_split, frames, lambda q, ts: make_training_table(db, q, ts), split_plan)
        except QueryError as err:
            if split_plan is None or val_cutoff is not None or test_cutoff is not None:
                raise  # cutoffs the user gave are never changed
            split_plan, frames = _cutoffs_from_rows(db, resolved, split_plan, err)
            per_split = split_plan.timestamps
    extra: dict[str, object] = {}
    if split_plan is not None:
        extra = {
            "val_cutoff": split_plan.val_cutoff,
            "test_cutoff": split_plan.test_cutoff,
            "step": str(split_plan.step),
            "cutoffs_reason": split_plan.reason,
        }
    return TaskTables(
        task_type=resolved.task_type,
        entity_table=resolved.entity_table,
        entity_key=resolved.entity_key,
        train=frames["train"],
        val=frames["val"],
        test=frames["test"],
        query=str(parsed),
        parsed=parsed,
        target_table=resolved.target_table,
        k=resolved.k,
        extra=extra,
    )


def _all_stamps(per_split: dict[str, list]) -> np.ndarray:
    return np.concatenate([_timestamps_frame(per_split[name])["ts"].to_numpy() for name in SPLITS])


def _split_frames(everything: pd.DataFrame, per_split: dict[str, list]) -> dict[str, pd.DataFrame]:
    """Each split's rows out of one training table over the union of their timestamps."""
    times = everything["timestamp"].to_numpy()
    return {
        name: everything[np.isin(times, _timestamps_frame(per_split[name])["ts"].to_numpy())].reset_index(drop=True)
        for name in SPLITS
    }


def _cutoffs_from_rows(
    db: object, resolved: ResolvedQuery, failed: SplitPlan, err: QueryError
) -> tuple[SplitPlan, dict[str, pd.DataFrame]]:
    """The default cutoffs gave a degenerate split (``err``): cutoffs chosen from the task's rows
    (:mod:`relgraph.query.row_cutoffs`), or ``err`` again when none works or the cause is one no
    cutoff mends (an entity time later than its events: the schema is what to change)."""
    if late_entity_time(db, resolved):
        raise err
    basis = split_basis(db, resolved.query)
    classified = resolved.task_type in ("binary", "multiclass")
    cause = str(err).split(": ", 1)[0].replace(", so there is nothing to learn or score", "")
    found = plan_from_rows(basis, failed.test_cutoff, lambda ts: make_training_table(db, resolved, ts), classified, cause)
    if found is None:
        checks = "non-empty and two-class" if classified else "non-empty"
        raise QueryError(f"{err} (and no cutoffs chosen from the task's rows leave every split {checks})") from None
    plan, everything = found
    frames = _split_frames(everything, plan.timestamps)
    # The chosen plan passes the same check, by construction; checked anyway so no degenerate task slips through.
    check_task(db, resolved, plan.timestamps, frames, lambda q, ts: make_training_table(db, q, ts), plan)
    return plan, frames
