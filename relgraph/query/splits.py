"""Prediction timestamps for the train / validation / test splits, RelBench's way.

With ``step`` = the target window's length (``end - start`` in its unit):

- test: ``test_cutoff + k * step`` for k = 0..39, while ``<= db max time - step``;
- val: ``val_cutoff + k * step`` for k = 0..39, while ``<= test_cutoff - step``
  (validation labels end before the test period starts);
- train: ``val_cutoff - k * step`` for k = 1, 2, ..., while ``>= db min time``
  (training labels end at the validation cutoff).

Cutoffs not given default to "the last windows" of the data the query reads: test starts
``n`` steps before the latest row of the aggregated tables and validation ``n`` steps before
that, with ``n`` = 10 % of the time span in steps, between 1 and 40.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from relgraph.errors import QueryError
from relgraph.query.ast import Aggregate, Comparison, IsNull, Query, Rank, Window

#: Most validation / test timestamps per split (RelBench's num_eval_timestamps).
MAX_EVAL_TIMESTAMPS = 40
#: Share of the time span the default validation and test periods each cover.
DEFAULT_EVAL_SHARE = 0.1
#: Steps across the span for queries without any window (static-attribute targets).
STEPS_WITHOUT_WINDOW = 100

Step = pd.Timedelta | pd.DateOffset


@dataclass(frozen=True)
class SplitPlan:
    """The cutoffs and step used, and the timestamps of each split."""

    val_cutoff: pd.Timestamp
    test_cutoff: pd.Timestamp
    step: Step
    timestamps: dict[str, list[pd.Timestamp]]


def window_step(window: Window) -> Step:
    """The length ``end - start`` of a window as a pandas offset (calendar months for months)."""
    length = window.end - window.start
    if window.unit == "months":
        return pd.DateOffset(months=length)
    return pd.Timedelta(**{window.unit: length})


def query_step(query: Query) -> Step | None:
    """The target window's length; for targets without one, the first condition window's."""
    target = query.target
    if isinstance(target, Rank):
        operand = target.aggregate
    elif isinstance(target, Comparison):
        operand = target.left
    elif isinstance(target, IsNull):
        operand = target.operand
    else:
        operand = target
    if isinstance(operand, Aggregate):
        return window_step(operand.window)
    windows = [agg.window for agg in query.aggregates()]
    return window_step(windows[0]) if windows else None


def _approx(step: Step) -> pd.Timedelta:
    if isinstance(step, pd.Timedelta):
        return step
    return pd.Timedelta(days=30.436875 * step.months)  # mean Gregorian month


def _series(start: pd.Timestamp, step: Step, count: int, sign: int = 1) -> list[pd.Timestamp]:
    if isinstance(step, pd.Timedelta):
        values = start + sign * step * np.arange(count)
        return list(pd.DatetimeIndex(values))
    # Calendar steps from the same origin (k * months), so month ends do not drift.
    return [start + pd.DateOffset(months=sign * step.months * k) for k in range(count)]


def _stamp(value: object, what: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise QueryError(f"{what} {value!r} is not a timestamp; write e.g. 2010-01-01") from None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(None)
    return stamp


def plan_splits(db: object, query: Query, val_cutoff: object = None, test_cutoff: object = None) -> SplitPlan:
    """Cutoffs, step and timestamps for ``query`` on ``db`` (see the module docstring)."""
    span = db.time_span()  # type: ignore[attr-defined]
    if span is None:
        raise QueryError(
            "the database has no timed table, so there are no prediction times; declare a time column"
        )
    db_lo, db_hi = pd.Timestamp(span[0]), pd.Timestamp(span[1])
    step = query_step(query)
    if step is None:
        step = pd.Timedelta(days=max(1, (db_hi - db_lo).days // STEPS_WITHOUT_WINDOW))
    approx = _approx(step)
    if val_cutoff is None or test_cutoff is None:
        data_hi = _data_end(db, query) or db_hi
        if approx >= pd.Timedelta(days=1):
            data_hi = data_hi.floor("D")  # whole-day windows: default cutoffs at midnight
        n_eval = int(np.clip(int(DEFAULT_EVAL_SHARE * (data_hi - db_lo) / approx), 1, MAX_EVAL_TIMESTAMPS))
        if test_cutoff is None:
            test_cutoff = (
                (data_hi - step * n_eval)
                if val_cutoff is None
                else _stamp(val_cutoff, "val cutoff") + step * n_eval
            )
        if val_cutoff is None:
            val_cutoff = _stamp(test_cutoff, "test cutoff") - step * n_eval
    val = _stamp(val_cutoff, "val cutoff")
    test = _stamp(test_cutoff, "test cutoff")
    if val >= test:
        raise QueryError(f"val cutoff {val} must be before test cutoff {test}")
    candidates = {
        "train": _series(val - step, step, int((val - db_lo) / approx) + 2, sign=-1),
        "val": _series(val, step, MAX_EVAL_TIMESTAMPS),
        "test": _series(test, step, MAX_EVAL_TIMESTAMPS),
    }
    timestamps = {
        "train": sorted(t for t in candidates["train"] if db_lo <= t <= val - step),
        "val": [t for t in candidates["val"] if t <= test - step],
        "test": [t for t in candidates["test"] if t <= db_hi - step],
    }
    if not timestamps["train"]:
        raise QueryError(
            f"no training timestamps: the val cutoff {val} leaves no full window after the first row time {db_lo}; "
            "pick a later --val-cutoff"
        )
    return SplitPlan(val, test, step, timestamps)


def _data_end(db: object, query: Query) -> pd.Timestamp | None:
    """Latest row time over the tables the query aggregates (None: no such rows)."""
    ends = []
    for table in {agg.column.table for agg in query.aggregates()}:
        times = db.row_times(table)  # type: ignore[attr-defined]
        if times is not None and (~np.isnat(times)).any():
            ends.append(pd.Timestamp(times[~np.isnat(times)].max()))
    return max(ends) if ends else None


def split_timestamps(
    db: object, query: Query | str, val_cutoff: object = None, test_cutoff: object = None
) -> dict[str, list[pd.Timestamp]]:
    """Prediction timestamps per split: ``{"train": [...], "val": [...], "test": [...]}`` (ascending).

    Args:
        db: a :class:`relgraph.database.Database`.
        query: PQL text or a parsed query (its target window sets the step).
        val_cutoff, test_cutoff: split starts (anything ``pd.Timestamp`` reads); defaults
            from the data (see the module docstring).
    """
    from relgraph.query.parser import parse

    parsed = parse(query) if isinstance(query, str) else query
    return plan_splits(db, parsed, val_cutoff, test_cutoff).timestamps
