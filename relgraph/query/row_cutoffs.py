"""Cutoffs chosen from the task's own rows, when the time-based default leaves a split empty or single-class.

The default cutoffs (:mod:`relgraph.query.splits`) are the last windows of the label events. Data
with a long gap (a shop dense for months, silent for half a year, then one late day of rows) puts
those windows in the gap, where no entity passes WHERE or every label is the same. Then the test
cutoff moves back through the time grid of the default (one step apart), to the points just
below each decile of the task's row times, latest first: the first whose train, validation and
test splits are all non-empty and, for classification, two-class wins. Validation keeps the
default's size (``n_eval`` windows before the test cutoff), test gets the same number of windows,
and training ends at the validation cutoff, as with any cutoffs.

The rows are one training table over every grid time (the timestamps the default's training split
already asks for), so trying each candidate is a lookup. The labels are read only as the set of
classes present at each timestamp (for non-emptiness and two-class checks, which the default's
``check_task`` makes on the same splits); no score, rate or label balance steers the choice.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from relgraph.query.splits import SplitBasis, SplitPlan, _series, split_series

#: Quantiles of the task's row times tried as test cutoffs, latest first.
ROW_QUANTILES = tuple(q / 20 for q in range(19, 0, -1))

Rows = Callable[[list[pd.Timestamp]], pd.DataFrame]
#: Per prediction time, the label classes present (``None``: a task without classes, e.g.
#: regression or ranking, where only non-emptiness counts).
ClassesAt = dict[pd.Timestamp, frozenset | None]


def classes_at(frame: pd.DataFrame, classified: bool) -> ClassesAt:
    """What the choice reads of the labels: the set of classes at each timestamp with rows."""
    if frame.empty:
        return {}
    if not classified:
        return {pd.Timestamp(t): None for t in frame["timestamp"].unique()}
    grouped = frame["label"].astype(str).groupby(frame["timestamp"])
    return {pd.Timestamp(t): frozenset(values) for t, values in grouped.unique().items()}


def usable(stamps: list[pd.Timestamp], classes: ClassesAt) -> bool:
    """A split with these timestamps has rows and, for classification, two classes or more."""
    present = [classes[t] for t in stamps if t in classes]
    if not present:
        return False
    if present[0] is None:
        return True
    return len(frozenset().union(*present)) > 1


def candidate_cutoffs(basis: SplitBasis, default_test: pd.Timestamp, row_times: np.ndarray) -> list[pd.Timestamp]:
    """Test cutoffs to try, latest first: the grid points (``default_test`` minus whole steps)
    just below each of :data:`ROW_QUANTILES` of the task's row times, leaving room for training."""
    grid = grid_times(basis, default_test)[1:]  # the default itself failed
    if not len(grid) or not len(row_times):
        return []
    grid_values = np.array([t.value for t in grid])  # descending
    chosen: list[pd.Timestamp] = []
    for q in ROW_QUANTILES:
        at = np.quantile(row_times.astype("int64"), q)
        below = np.nonzero(grid_values <= at)[0]
        if len(below) and grid[below[0]] not in chosen:
            chosen.append(grid[below[0]])
    return chosen


def grid_times(basis: SplitBasis, default_test: pd.Timestamp) -> list[pd.Timestamp]:
    """``default_test`` and the earlier times one step apart, down to the first row time (descending)."""
    count = int((default_test - basis.db_lo) / basis.approx) + 1
    return [t for t in _series(default_test, basis.step, max(count, 0) + 1, sign=-1) if t >= basis.db_lo]


def cutoffs_for(basis: SplitBasis, test: pd.Timestamp) -> tuple[pd.Timestamp, dict[str, list[pd.Timestamp]]]:
    """The validation cutoff (``n_eval`` windows before ``test``) and each split's timestamps
    (``n_eval`` test windows)."""
    val = test - basis.horizon - basis.step * (basis.n_eval - 1)
    test_end = _series(test, basis.step, basis.n_eval)[-1] + basis.horizon
    return val, split_series(basis, val, test, test_end)


def choose_cutoffs(
    basis: SplitBasis, default_test: pd.Timestamp, row_times: np.ndarray, classes: ClassesAt
) -> tuple[pd.Timestamp, pd.Timestamp, dict[str, list[pd.Timestamp]], float] | None:
    """``(val cutoff, test cutoff, timestamps, share of rows before the test cutoff)`` of the
    latest candidate whose every split is :func:`usable`; None when none is. Labels are read
    only through ``classes``."""
    for test in candidate_cutoffs(basis, default_test, row_times):
        val, stamps = cutoffs_for(basis, test)
        if all(usable(stamps[split], classes) for split in ("train", "val", "test")):
            share = float(np.mean(row_times < np.datetime64(test, "ns")))
            return val, test, stamps, share
    return None


def plan_from_rows(
    basis: SplitBasis, default_test: pd.Timestamp, rows: Rows, classified: bool, why_default_failed: str
) -> tuple[SplitPlan, pd.DataFrame] | None:
    """A :class:`SplitPlan` chosen from the task's rows (see the module docstring) and the rows of
    its timestamps; None when no candidate leaves every split usable."""
    grid = grid_times(basis, default_test)
    frame = rows(grid)
    row_times = np.sort(frame["timestamp"].to_numpy(dtype="datetime64[ns]"))
    candidates = candidate_cutoffs(basis, default_test, row_times)
    wanted = sorted({t for test in candidates for split in cutoffs_for(basis, test)[1].values() for t in split})
    missing = sorted(set(wanted) - set(grid))
    if missing:  # a horizon that is not a whole number of steps: validation windows off the grid
        frame = pd.concat([frame, rows(missing)], ignore_index=True)
        frame = frame.sort_values(["timestamp", frame.columns[0]], kind="stable", ignore_index=True)
    found = choose_cutoffs(basis, default_test, row_times, classes_at(frame, classified))
    if found is None:
        return None
    val, test, stamps, share = found
    checks = "non-empty and two-class" if classified else "non-empty"
    reason = (
        f"chosen from the task's rows, because with the last windows of the label events {why_default_failed}; "
        f"test from {test}, with {share:.0%} of the task's rows (one training table at every step) before it, "
        f"the latest of the cutoffs at each 5 % of those rows leaving every split {checks}; "
        f"val: the {basis.n_eval} window(s) before it, test: {basis.n_eval} window(s)"
    )
    end = stamps["test"][-1] + basis.horizon
    plan = SplitPlan(val, test, basis.step, stamps, reason, basis.horizon, end)
    return plan, frame
