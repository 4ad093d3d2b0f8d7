"""Predictive query language (PQL): one line states a task; SQL builds leakage-free training tables.

    >>> from relgraph.query import parse, build_task
    >>> query = parse("PREDICT AVG(results.positionOrder, 0, 60, days) FOR EACH drivers.driverId "
    ...               "ASSUMING COUNT(results.*, 0, 60, days) > 0")
    >>> query.task_type
    'regression'
    >>> task = build_task(db, query, val_cutoff="2005-01-01", test_cutoff="2010-01-01")  # doctest: +SKIP

Pipeline: :mod:`tokenizer` -> :mod:`parser` -> :mod:`ast` -> :mod:`validator` -> :mod:`planner`
(DuckDB-dialect SQL, run on the database's engine: DuckDB, or Spark translated) -> :mod:`training_table`;
:mod:`splits` picks timestamps.
Imports no torch.
"""

from __future__ import annotations

from relgraph.query.ast import Query
from relgraph.query.for_each import entity_database
from relgraph.query.parser import parse
from relgraph.query.planner import SqlPlan, plan, plan_sql
from relgraph.query.splits import split_timestamps
from relgraph.query.task import TaskTables
from relgraph.query.training_table import build_task, make_training_table
from relgraph.query.validator import ResolvedQuery, validate

__all__ = [
    "Query",
    "ResolvedQuery",
    "SqlPlan",
    "TaskTables",
    "build_task",
    "entity_database",
    "make_training_table",
    "parse",
    "plan",
    "plan_sql",
    "split_timestamps",
    "validate",
]
