"""The embedded default: DuckDB over the database's Arrow tables, in process."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa


class DuckDBEngine:
    """Runs statements on ``db.duckdb()`` (views over the Arrow tables, no copy)."""

    name = "duckdb"

    def __init__(self, db: Any) -> None:
        self.con = db.duckdb()

    def execute(self, sql: str, params: dict[str, Any] | None = None, large: bool = False) -> pa.Table:
        return self.con.sql(sql, params=params or {}).to_arrow_table()

    def register(self, name: str, table: pa.Table | pd.DataFrame) -> None:
        self.con.register(name, table)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)
