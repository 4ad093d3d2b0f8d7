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
between 1 and 40. The end is where the label events are: when a few of the target's rows (at
most ``STRAY_SHARE`` of them, and ``MAX_STRAYS``) lie after a gap longer than the window and
``STRAY_GAP_SHARE`` of the span (stray late rows long after activity stopped), the events end
before that gap, and test windows end by then too. When those last windows leave a split
empty or single-class (activity that stops for months before a last burst of rows),
``build_task`` chooses the cutoffs from the task's own rows instead
(:mod:`relgraph.query.row_cutoffs`); cutoffs the user gives are never changed.
``SplitPlan.reason`` says how the cutoffs were chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from relgraph.errors import QueryError
from relgraph.query.ast import Aggregate, Comparison, IsNull, Query, Rank, Window, _aggregates_in

#: Most validation / test timestamps per split (RelBench's num_eval_timestamps).
MAX_EVAL_TIMESTAMPS = 40
#: Share of the time span the default validation and test periods each cover.
DEFAULT_EVAL_SHARE = 0.1
#: Steps across the span for queries without any window (static-attribute targets).
STEPS_WITHOUT_WINDOW = 100

#: Late (or early) label events that may be left out as strays: this share of them at most ...
STRAY_SHARE = 0.01
#: ... or this many, when more (a handful of stray rows in a small table), but never a tenth of them.
MAX_STRAYS = 5
#: A gap before strays spans more than this share of the events' time span (and more than a window).
STRAY_GAP_SHARE = 0.05

Step = pd.Timedelta | pd.DateOffset


@dataclass(frozen=True)
class SplitPlan:
    """The cutoffs and step used, and the timestamps of each split."""

    val_cutoff: pd.Timestamp
    test_cutoff: pd.Timestamp
    step: Step
    timestamps: dict[str, list[pd.Timestamp]]
    reason: str = ""  # how the cutoffs were chosen, one line
    horizon: Step | None = None  # how far past t a label looks
    data_end: pd.Timestamp | None = None  # where the label events end (stray late rows left out)


def _offset(amount: int, unit: str) -> Step:
    if unit in ("months", "years"):  # calendar steps; a year is 12 months (the series steps by .months)
        return pd.DateOffset(months=amount * (12 if unit == "years" else 1))
    return pd.Timedelta(**{unit: amount})


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


@dataclass(frozen=True)
class SplitBasis:
    """What every choice of cutoffs for a query rests on: the database's time span, the step and
    horizon of the target's window, the label events, where default windows end (``data_hi``) and
    how many timestamps a default validation / test split has (``n_eval``)."""

    db_lo: pd.Timestamp
    db_hi: pd.Timestamp
    step: Step
    horizon: Step
    events: LabelEvents
    data_hi: pd.Timestamp
    n_eval: int

    @property
    def approx(self) -> pd.Timedelta:
        return _approx(self.step)


def split_basis(db: object, query: Query) -> SplitBasis:
    """The :class:`SplitBasis` of ``query`` on ``db``."""
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
        step, horizon = step_and_horizon(window)
    approx = _approx(step)
    events = label_events(db, query)
    data_hi = events.end if events.strays else (_data_end(db, query) or db_hi)
    if approx >= pd.Timedelta(days=1):
        data_hi = data_hi.floor("D")  # whole-day windows: default cutoffs at midnight
    n_eval = int(np.clip(int(DEFAULT_EVAL_SHARE * (data_hi - events.start) / approx), 1, MAX_EVAL_TIMESTAMPS))
    return SplitBasis(db_lo, db_hi, step, horizon, events, data_hi, n_eval)


def split_series(
    basis: SplitBasis, val: pd.Timestamp, test: pd.Timestamp, test_end: pd.Timestamp
) -> dict[str, list[pd.Timestamp]]:
    """Each split's timestamps for the cutoffs ``val`` < ``test``: training windows end by ``val``,
    validation windows by ``test`` and test windows by ``test_end`` (at most 40 each)."""
    step, horizon, approx = basis.step, basis.horizon, basis.approx
    last_train = val - horizon
    candidates = {
        "train": _series(last_train, step, int((last_train - basis.db_lo) / approx) + 2, sign=-1),
        "val": _series(val, step, MAX_EVAL_TIMESTAMPS),
        "test": _series(test, step, MAX_EVAL_TIMESTAMPS),
    }
    return {
        "train": sorted(t for t in candidates["train"] if basis.db_lo <= t),
        "val": [t for t in candidates["val"] if t + horizon <= test],
        "test": [t for t in candidates["test"] if t + horizon <= test_end],
    }


def plan_splits(db: object, query: Query, val_cutoff: object = None, test_cutoff: object = None) -> SplitPlan:
    """Cutoffs, step and timestamps for ``query`` on ``db`` (see the module docstring)."""
    basis = split_basis(db, query)
    db_hi, step, horizon, events = basis.db_hi, basis.step, basis.horizon, basis.events
    test_end = db_hi if events.strays == 0 else min(db_hi, events.end)
    reason = "cutoffs as given"
    if val_cutoff is None or test_cutoff is None:
        data_hi, n_eval = basis.data_hi, basis.n_eval
        # n_eval timestamps, one step apart, whose label windows end by the period's end.
        if test_cutoff is None:
            test_end = min(test_end, data_hi)
            if val_cutoff is None:
                test_cutoff = data_hi - horizon - step * (n_eval - 1)
                reason = f"test: the last {n_eval} window(s) ending by {data_hi} ({events.describe()})"
            else:
                test_cutoff = _stamp(val_cutoff, "val cutoff") + step * (n_eval - 1) + horizon
                reason = f"test: {n_eval} window(s) after the given val cutoff"
        else:
            reason = "test cutoff as given"
        if val_cutoff is None:
            val_cutoff = _stamp(test_cutoff, "test cutoff") - horizon - step * (n_eval - 1)
            reason += f"; val: the {n_eval} window(s) before the test cutoff"
        reason += f"; {n_eval} = 10 % of the events' span in steps, 1 to {MAX_EVAL_TIMESTAMPS}"
    elif events.strays:
        reason += f"; test windows end by {test_end} ({events.describe()})"
    val = _stamp(val_cutoff, "val cutoff")
    test = _stamp(test_cutoff, "test cutoff")
    if val >= test:
        raise QueryError(f"val cutoff {val} must be before test cutoff {test}")
    timestamps = split_series(basis, val, test, test_end)
    if not timestamps["train"]:
        raise QueryError(
            f"no training timestamps: the val cutoff {val} leaves no full window after the first row time {basis.db_lo} "
            f"({_earliest_rows(db, basis.db_lo)}); pick a later --val-cutoff"
        )
    return SplitPlan(val, test, step, timestamps, reason, horizon, events.end)


def _earliest_rows(db: object, lo: pd.Timestamp) -> str:
    """Where the database's first row time comes from, for an error: ``table.column`` names."""
    names = []
    for name in db.tables:  # type: ignore[attr-defined]
        times = db.row_times(name)  # type: ignore[attr-defined]
        if times is not None and len(times) and not np.isnat(times).all() and pd.Timestamp(np.nanmin(times)) == lo:
            info = db.schema[name].time  # type: ignore[attr-defined]
            own = info is not None and info.inherited_via is None and not info.unknown
            names.append(f"{name}.{info.column}" if own else f"{name} (times inherited)")
    return "in " + ", ".join(names) if names else "over all tables"


@dataclass(frozen=True)
class LabelEvents:
    """Where the target's rows lie in time: ``start``..``end`` with ``strays`` late rows left out."""

    start: pd.Timestamp
    end: pd.Timestamp
    strays: int = 0
    last: pd.Timestamp | None = None  # the latest row, stray or not
    tables: tuple[str, ...] = ()

    def describe(self) -> str:
        where = ", ".join(self.tables) or "all tables"
        if not self.strays:
            return f"the latest {where} row"
        assert self.last is not None
        return (
            f"where the {where} rows end; {self.strays} later row(s), up to {self.last}, "
            "lie after a long gap and are left out"
        )


def _label_tables(query: Query) -> list[str]:
    """Tables whose rows make the labels: the target's aggregates (else any aggregate's)."""
    own = [agg.column.table for agg in _aggregates_in(query.target)]
    return sorted(set(own or [agg.column.table for agg in query.aggregates()]))


def step_and_horizon(window: Window) -> tuple[Step, Step]:
    """A window's step (its length) and horizon (how far past t a label looks; t + horizon must
    not cross the next split's cutoff)."""
    step = _offset(window.end - window.start, window.unit)
    return step, (_offset(window.end, window.unit) if window.end > 0 else step)


def label_events(db: object, query: Query) -> LabelEvents:
    """The span of the label events, leaving out a few stray rows after a long gap at either end
    (a gap longer than the query's window and than ``STRAY_GAP_SHARE`` of the span)."""
    found = query_window(query)
    window = max(map(_approx, step_and_horizon(found))) if found is not None else pd.Timedelta(0)
    tables = _label_tables(query)
    chunks = [db.row_times(t) for t in tables]  # type: ignore[attr-defined]
    times = np.sort(np.concatenate([c[~np.isnat(c)] for c in chunks if c is not None] or [np.array([], "M8[ns]")]))
    if len(times) == 0:
        span = db.time_span()  # type: ignore[attr-defined]
        return LabelEvents(pd.Timestamp(span[0]), pd.Timestamp(span[1]))
    lo, hi = pd.Timestamp(times[0]), pd.Timestamp(times[-1])
    gap = max(window, STRAY_GAP_SHARE * (hi - lo)).value
    ints = times.astype("int64")
    end_index, late = _stray_cut(ints, gap)
    start_index, _ = _stray_cut(-ints[::-1], gap)
    start = pd.Timestamp(times[len(times) - 1 - start_index])
    return LabelEvents(start, pd.Timestamp(times[end_index]), late, hi, tuple(tables))


def _stray_cut(values: np.ndarray, gap: int) -> tuple[int, int]:
    """(index of the last value kept, values left out): the values after the first gap longer than
    ``gap`` among the last few (see ``STRAY_SHARE`` / ``MAX_STRAYS``); none left out when no such gap."""
    n = len(values)
    k = min(max(MAX_STRAYS, int(STRAY_SHARE * n)), n // 10)
    if k == 0:
        return n - 1, 0
    tail = values[n - k - 1 :]
    big = np.nonzero(np.diff(tail) > gap)[0]
    if not len(big):
        return n - 1, 0
    kept = n - k - 1 + int(big[0])
    return kept, n - 1 - kept


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
