"""How long after its time a task's label is known (the label horizon), and from when every
validation label is known: where a model may be refitted on training + validation rows."""

from __future__ import annotations

from typing import Any

import pandas as pd

from relgraph.query.task import TaskTables

#: Seconds per window unit; a month counts as 31 days (later than any calendar month: never early).
_UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400, "months": 31 * 86400, "years": 366 * 86400}


def label_horizon(query: Any) -> pd.Timedelta | None:
    """How long after its time a label of ``query`` is known: the latest window end of the
    target's aggregates (and ASSUMING's, which also look ahead); None when the target has no
    window (an entity's attribute: its label would be known at once, the context would leak it)."""
    from relgraph.query.ast import Aggregate, Rank

    def aggregates(node: Any) -> list[Any]:
        if node is None:
            return []
        if isinstance(node, Aggregate):
            return [node]
        if isinstance(node, Rank):
            return [node.aggregate]
        found = []
        for name in ("left", "operand", "items", "item"):
            value = getattr(node, name, None)
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if item is not None and not isinstance(item, (str, int, float, bool)):
                    found.extend(aggregates(item))
        return found

    target = aggregates(query.target)
    if not target:
        return None
    ends = [a.window.end * _UNIT_SECONDS[a.window.unit] for a in target + aggregates(query.assuming)]
    return pd.Timedelta(seconds=max(max(ends), 1))


def task_label_horizon(task: TaskTables) -> pd.Timedelta | None:
    """The horizon of ``task``: its query's, else ``task.extra["label_horizon"]`` (task tables), else None."""
    if task.parsed is not None:
        return label_horizon(task.parsed)
    given = (task.extra or {}).get("label_horizon")
    return pd.Timedelta(given) if given is not None else None


def labels_known_from(task: TaskTables) -> pd.Timestamp | None:
    """The time every validation label of ``task`` is known (its last validation time + the
    horizon); None without validation rows or a known horizon."""
    horizon = task_label_horizon(task)
    if horizon is None or not len(task.val):
        return None
    return pd.Timestamp(pd.to_datetime(task.val["timestamp"]).max()) + horizon
