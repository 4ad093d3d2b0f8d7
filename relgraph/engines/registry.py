"""One engine object per database, created on first use from ``db.engine`` / ``db.engine_options``."""

from __future__ import annotations

import weakref
from typing import Any

from relgraph.errors import QueryError

_ENGINES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def engine_for(db: Any) -> Any:
    engine = _ENGINES.get(db)
    if engine is None:
        name = getattr(db, "engine", "duckdb")
        if name == "duckdb":
            from relgraph.engines.duckdb_engine import DuckDBEngine

            engine = DuckDBEngine(db)
        elif name == "spark":
            from relgraph.engines.spark_engine import SparkEngine

            engine = SparkEngine(db, **getattr(db, "engine_options", {}))
        else:
            raise QueryError(f"unknown engine {name!r}; use duckdb or spark")
        _ENGINES[db] = engine
    return engine
