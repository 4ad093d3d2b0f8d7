"""Prediction timestamps for the train / validation / test splits, RelBench's way.

With ``step`` = the target window's length (``end - start`` in its unit) and ``horizon`` =
how far past t a label looks (the window's ``end``; ``step`` when ``end <= 0``), which is
``step`` for RelBench's ``(0, w]`` windows:

- test: ``test_cutoff + k * step`` for k = 0..39, while ``t + horizon <= db max time``;
- val: ``val_cutoff + k * step`` for k = 0..39, while ``t + horizon <= test_cutoff``
  (validation labels end before the test period starts);
- train: ``val_cutoff - horizon - k * step`` for k = 0, 1, ..., while ``>= db min time``
  (training labels end at the validation cutoff).

Cutoffs not given default to "the last windows" of the data the query reads: ``n`` test
timestamps whose windows end by the latest row of the aggregated tables, and ``n`` validation
timestamps whose windows end by the test cutoff, with ``n`` = 10 % of the time span in steps,
between 1 and 40.
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


def _offset(amount: int, unit: str) -> Step:
    return pd.DateOffset(months=amount) if unit == "months" else pd.Timedelta(**{unit: amount})


def query_window(query: Query) -> Window | None:
    """The target's window; for targets without one (entity attributes), the first condition window."""
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
        return operand.window
    windows = [agg.window for agg in query.aggregates()]
    return windows[0] if windows else None


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
    window = query_window(query)
    if window is None:
        step = pd.Timedelta(days=max(1, (db_hi - db_lo).days // STEPS_WITHOUT_WINDOW))
        horizon = step
    else:
        step = _offset(window.end - window.start, window.unit)
        # How far past t a label looks: t + horizon must not cross the next split's cutoff.
        horizon = _offset(window.end, window.unit) if window.end > 0 else step
    approx = _approx(step)
    if val_cutoff is None or test_cutoff is None:
        data_hi = _data_end(db, query) or db_hi
        if approx >= pd.Timedelta(days=1):
            data_hi = data_hi.floor("D")  # whole-day windows: default cutoffs at midnight
        n_eval = int(np.clip(int(DEFAULT_EVAL_SHARE * (data_hi - db_lo) / approx), 1, MAX_EVAL_TIMESTAMPS))
        # n_eval timestamps, one step apart, whose label windows end by the period's end.
        if test_cutoff is None:
            if val_cutoff is None:
                test_cutoff = data_hi - horizon - step * (n_eval - 1)
            else:
                test_cutoff = _stamp(val_cutoff, "val cutoff") + step * (n_eval - 1) + horizon
        if val_cutoff is None:
            val_cutoff = _stamp(test_cutoff, "test cutoff") - horizon - step * (n_eval - 1)
    val = _stamp(val_cutoff, "val cutoff")
    test = _stamp(test_cutoff, "test cutoff")
    if val >= test:
        raise QueryError(f"val cutoff {val} must be before test cutoff {test}")
    last_train = val - horizon
    candidates = {
        "train": _series(last_train, step, int((last_train - db_lo) / approx) + 2, sign=-1),
        "val": _series(val, step, MAX_EVAL_TIMESTAMPS),
        "test": _series(test, step, MAX_EVAL_TIMESTAMPS),
    }
    timestamps = {
        "train": sorted(t for t in candidates["train"] if db_lo <= t),
        "val": [t for t in candidates["val"] if t + horizon <= test],
        "test": [t for t in candidates["test"] if t + horizon <= db_hi],
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
