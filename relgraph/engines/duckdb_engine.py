"""The embedded default: DuckDB over the database's Arrow tables, in process."""

from __future__ import annotations

import weakref
from typing import Any

import pandas as pd
import pyarrow as pa


class DuckDBEngine:
    """Runs statements on ``db.duckdb()`` (views over the Arrow tables, no copy), looked up at each
    call: inside ``db.own_connection()`` the calling thread's own."""

    name = "duckdb"

    def __init__(self, db: Any) -> None:
        self._db = weakref.ref(db)  # the engine registry is keyed by the database: no strong reference back
        self._first = db.shared_connection()  # what an engine kept past its database runs on

    @property
    def con(self) -> Any:
        db = self._db()
        return self._first if db is None else db.duckdb()

    def execute(self, sql: str, params: dict[str, Any] | None = None, large: bool = False) -> pa.Table:
        return self.con.sql(sql, params=params or {}).to_arrow_table()

    def register(self, name: str, table: pa.Table | pd.DataFrame) -> None:
        self.con.register(name, table)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)
