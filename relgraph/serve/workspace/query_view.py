"""The Query view: live PQL checks (the parser's and validator's own messages, placed at a line and
column) and the task's tables: split sizes, label rates over time (the report's plot) and the SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from relgraph.database import Database
from relgraph.errors import QueryError
from relgraph.query import build_task, parse, plan_sql, validate
from relgraph.query.tokenizer import tokenize

_AT = re.compile(r"\(line (\d+), column (\d+)\)")
_UNKNOWN = re.compile(r"unknown (?:table|column) '([^']+)'")


@dataclass
class Check:
    """The outcome of checking PQL text: ``error`` (one line), its ``line`` / ``column`` (1-based,
    None when the message names no place), or the resolved task when the query is valid."""

    text: str
    error: str | None = None
    line: int | None = None
    column: int | None = None
    task_type: str | None = None
    entity: str | None = None
    details: list[str] = field(default_factory=list)


def locate(text: str, message: str) -> tuple[int | None, int | None]:
    """Line and column an error message is about: the parser's ``(line L, column C)``, else the first
    word of the query the validator named as unknown (``unknown column 'x'``)."""
    found = _AT.search(message)
    if found:
        return int(found.group(1)), int(found.group(2))
    unknown = _UNKNOWN.search(message)
    if unknown:
        for token in tokenize(text):
            if token.kind in ("IDENT", "QIDENT") and token.value == unknown.group(1):
                return (token.line, token.column)
    return None, None


def check_query(db: Database, text: str) -> Check:
    """Parse and validate ``text`` against ``db``'s schema; never raises for bad PQL."""
    if not text.strip():
        return Check(text)  # nothing typed yet: no error, no task
    try:
        resolved = validate(parse(text), db.schema)
    except QueryError as err:
        message = str(err)
        line, column = locate(text, message)
        return Check(text, error=_AT.sub("", message.splitlines()[0]).strip(), line=line, column=column, details=message.splitlines()[1:])
    return Check(text, task_type=resolved.task_type, entity=f"{resolved.entity_table}.{resolved.entity_key}")


def task_summary(db: Database, text: str) -> dict[str, Any]:
    """Split sizes, label summaries, the label-over-time plot and the SQL of a valid query
    (raises :class:`QueryError` when the task cannot be built)."""
    from relgraph.query.task import label_summary
    from relgraph.runs.report import label_over_time

    query = parse(text)
    validate(query, db.schema)
    task = build_task(db, query)
    splits = {s: task.split(s) for s in ("train", "val", "test")}
    rows = [{"split": s, "timestamps": int(f["timestamp"].nunique()), "rows": len(f),
             "entities": int(f[task.entity_key].nunique()), "labels": label_summary(f["label"], task.task_type)}
            for s, f in splits.items()]
    return {"task_type": task.task_type, "entity": f"{task.entity_table}.{task.entity_key}",
            "cutoffs": {k: task.extra.get(k) for k in ("val_cutoff", "test_cutoff", "step")},
            "reason": task.extra.get("cutoffs_reason"), "splits": rows,
            "plot": label_over_time(task.task_type, splits), "sql": plan_sql(db, query)}
