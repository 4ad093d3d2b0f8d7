"""SQL engines: where the training-table planner and the temporal feature builder run their SQL.

Two implementations share one interface, :class:`Engine`:

* ``duckdb`` (default): the embedded in-memory connection of ``Database.duckdb()``, unchanged;
* ``spark``: Apache Spark through PySpark (``local[2]`` in tests, any ``spark://`` master in
  production), for databases larger than one machine.

SQL is written once, in DuckDB's dialect with ``$name`` parameters; an engine that speaks another
dialect translates the statement (parsed into an AST, never by string substitution).

The engine of a database is chosen with ``relgraph.connect(source, engine="spark",
spark_master="local[2]")`` (or ``db.with_engine(...)``) and found with :func:`engine_for`.
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd
import pyarrow as pa

ENGINES = ("duckdb", "spark")


class Engine(Protocol):
    """Runs SQL over a database's tables (one view per table, ``__rg_time`` included).

    Attributes:
        name: ``"duckdb"`` or ``"spark"``.
    """

    name: str

    def execute(self, sql: str, params: dict[str, Any] | None = None, large: bool = False) -> pa.Table:
        """Run one statement in DuckDB's dialect with ``$name`` parameters; the result as Arrow.
        ``large``: the result may be too big to pass through a distributed engine's driver in one
        piece (Spark then writes it as Parquet and it is read from there; plain column names only)."""
        ...

    def register(self, name: str, table: pa.Table | pd.DataFrame) -> None:
        """Make ``table`` a relation called ``name`` for later statements."""
        ...

    def unregister(self, name: str) -> None:
        """Drop the relation ``name`` registered before."""
        ...


def engine_for(db: Any) -> Engine:
    """The engine ``db`` was opened with (one engine object per database, created on first use)."""
    from relgraph.engines.registry import engine_for as _engine_for

    return _engine_for(db)


__all__ = ["ENGINES", "Engine", "engine_for"]
