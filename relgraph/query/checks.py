"""No silent empty or single-class task: why a split came out empty or with one class, and what to change.

:func:`check_task` runs after the training tables are built (``build_task``) and raises one
:class:`QueryError` line naming the split, the cause and the fix. Causes, in the order tried:

- the split has no timestamps: its label windows run past the data;
- the entity table's time is later than its events (a last-activity time used as row time):
  entities appear only after what they did;
- no entity exists yet at the split's timestamps;
- WHERE, or ASSUMING, removes every entity;
- the labels are all missing, or all one class: the windows run past the data, or
  the target never (always) holds at those timestamps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from relgraph.errors import QueryError
from relgraph.query.splits import SplitPlan, label_events, query_window, step_and_horizon
from relgraph.query.validator import ResolvedQuery, validate
from relgraph.schema.times import lookup_parent_values

SPLITS = ("train", "val", "test")
#: Share of a target's rows older than their entity above which the entity's time looks like a last-activity time.
LATE_ENTITY_SHARE = 0.5
CUTOFF_OPTION = {"train": "--val-cutoff", "val": "--val-cutoff", "test": "--test-cutoff"}

Rows = Callable[[ResolvedQuery, list[pd.Timestamp]], pd.DataFrame]


def check_task(
    db: object,
    resolved: ResolvedQuery,
    stamps: dict[str, list[pd.Timestamp]],
    frames: dict[str, pd.DataFrame],
    rows: Rows,
    plan: SplitPlan | None = None,
) -> None:
    """Raise ``QueryError`` when a split is empty or, for classification, its labels have one class.

    Args:
        db: the Database the tables were built from.
        resolved: the validated query.
        stamps: each split's prediction times; ``frames``: each split's rows.
        rows: builds training rows for a (resolved query, timestamps) pair (``make_training_table``).
        plan: the split plan, when the cutoffs were planned (for the horizon and the data end).
    """
    for split in SPLITS:
        times = sorted(pd.Timestamp(t) for t in stamps[split])
        frame = frames[split]
        if not times:
            raise QueryError(f"the {split} split has no timestamps: {_past_the_data(plan, split)}")
        if frame.empty:
            why = _why_empty(db, resolved, times, rows)
            raise QueryError(f"the {split} split is empty ({len(times)} timestamps, {_when(times)}): {why}")
        labels = frame["label"]
        if resolved.task_type in ("binary", "multiclass"):
            values = labels.astype(str).unique()
            if len(values) == 1:
                why = _why_one_class(db, resolved, times)
                raise QueryError(
                    f"every {split} label is {values[0]} ({len(frame)} rows, {_when(times)}), so there is "
                    f"nothing to learn or score: {why}"
                )


def _when(times: list[pd.Timestamp]) -> str:
    return f"{times[0]}" if len(times) == 1 else f"{times[0]} .. {times[-1]}"


def _past_the_data(plan: SplitPlan | None, split: str) -> str:
    if plan is None:
        return "give it prediction times"
    cutoff = plan.test_cutoff if split == "test" else plan.val_cutoff
    end = plan.data_end
    return (
        f"a label window of {plan.horizon} from the {split} cutoff {cutoff} runs past the data "
        f"(labels end at {end}); pick an earlier {CUTOFF_OPTION[split]} or a shorter window"
    )


def _why_empty(db: object, resolved: ResolvedQuery, times: list[pd.Timestamp], rows: Rows) -> str:
    late = late_entity_time(db, resolved)
    if late:
        return late
    entity = resolved.entity_table
    entity_times = db.row_times(entity)  # type: ignore[attr-defined]
    if entity_times is not None:
        known = entity_times[~np.isnat(entity_times)]
        existing = int(np.sum(known <= np.datetime64(times[-1], "ns")))
        if existing == 0:
            first = pd.Timestamp(known.min()) if len(known) else "never"
            return (
                f"no {entity} row exists yet at those timestamps (the first appears at {first}): entities exist "
                "from their row time on; pick later cutoffs"
            )
    query = resolved.query
    for part in ("where", "assuming"):
        if getattr(query, part) is None:
            continue
        loose = validate(dataclasses.replace(query, **{part: None}), _schema(db))
        if not rows(loose, times).empty:
            return (
                f"{part.upper()} {getattr(query, part)} removes every {entity} at those timestamps; loosen it "
                "or pick other cutoffs"
            )
    return "no entity has a label (the target is missing for all): " + _windows_or_target(db, resolved, times)


def _why_one_class(db: object, resolved: ResolvedQuery, times: list[pd.Timestamp]) -> str:
    return late_entity_time(db, resolved) or _windows_or_target(db, resolved, times)


def _windows_or_target(db: object, resolved: ResolvedQuery, times: list[pd.Timestamp]) -> str:
    window = query_window(resolved.query)
    if window is not None:
        horizon = step_and_horizon(window)[1]
        end = label_events(db, resolved.query).end
        if times[-1] + horizon > end:
            return (
                f"the label windows (up to {times[-1] + horizon}) run past the data, whose label rows end at "
                f"{end}; pick earlier cutoffs or timestamps"
            )
    return (
        f"the target {resolved.query.target} comes out the same for every entity at those timestamps; "
        "pick a longer window, another threshold or other cutoffs"
    )


def late_entity_time(db: object, resolved: ResolvedQuery) -> str:
    """The reason when most target rows are older than their entity (the entity's time comes too late)."""
    entity = resolved.entity_table
    entity_times = db.row_times(entity)  # type: ignore[attr-defined]
    if entity_times is None:
        return ""
    for table, path in resolved.paths.items():
        hop = path[0]
        if len(path) != 1 or hop.parent != entity:
            continue
        child_times = db.row_times(table)  # type: ignore[attr-defined]
        if child_times is None:
            continue
        tables = db.tables  # type: ignore[attr-defined]
        parent = lookup_parent_values(
            tables[table].column(hop.fk_column), tables[entity].column(hop.parent_column), entity_times
        )
        both = ~np.isnat(parent) & ~np.isnat(child_times)
        if not both.any():
            continue
        share = float(np.mean(child_times[both] < parent[both]))
        if share > LATE_ENTITY_SHARE:
            spec = _schema(db)[entity].time
            column = spec.column if spec is not None else "?"
            return (
                f"{share:.0%} of the {table} rows are older than their {entity} row, so entities appear only after "
                f"their events: the row time {entity}.{column} looks like a last-activity time; set the table's "
                f"time to its creation time (or time = false) in a schema file"
            )
    return ""


def _schema(db: object) -> object:
    return db.schema  # type: ignore[attr-defined]

