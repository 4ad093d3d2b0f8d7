"""The one ``Database`` object that flows through relgraph: data, schema, row times."""

from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from relgraph.connectors.base import SourceData
from relgraph.schema.model import Schema
from relgraph.schema.times import resolve_row_times

#: Name of the extra column holding each row's time (own or inherited) in ``Database.duckdb()`` views.
TIME_COLUMN = "__rg_time"


class Database:
    """Tables (Arrow), the schema relgraph uses for them, and each row's time.

    Build it with :func:`relgraph.connect`. Nothing here writes to the user's source.
    """

    def __init__(self, data: SourceData, schema: Schema) -> None:
        self.source = data.source
        self.tables: dict[str, pa.Table] = data.tables
        self.declared = data.declared
        self.fingerprint = data.fingerprint
        self.schema = schema
        self._con: duckdb.DuckDBPyConnection | None = None

    def __repr__(self) -> str:
        return f"Database({self.source!r}, tables={list(self.tables)})"

    def table(self, name: str) -> pa.Table:
        return self.tables[name]

    def row_times(self, name: str) -> np.ndarray | None:
        """Each row's time as ``datetime64[ns]`` (NaT where unknown), or None for a static table.

        Own times combine the time column with its clock-time column when the schema names
        one (Ergast ``races.date`` + ``races.time``). Inherited times (a results row takes its
        race's time) are looked up through the foreign key ``inherited_via``; rows whose key is
        null or dangling get NaT. Unknown table names raise ``KeyError``.
        """
        if name not in self.tables:
            raise KeyError(name)
        return self._row_times.get(name)

    @cached_property
    def _row_times(self) -> dict[str, np.ndarray]:
        return resolve_row_times(self.tables, self.schema)

    def time_span(self) -> tuple[np.datetime64, np.datetime64] | None:
        """Earliest and latest known row time over all timed tables (None if there is none)."""
        lo, hi = [], []
        for times in self._row_times.values():
            valid = times[~np.isnat(times)]
            if len(valid):
                lo.append(valid.min())
                hi.append(valid.max())
        if not lo:
            return None
        return min(lo), max(hi)

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per table, named as the table.

        Timed tables carry an extra ``__rg_time`` TIMESTAMP column with the row's time (own or
        inherited; NULL where unknown). Quote names in SQL (``SELECT * FROM "order"``): tables
        may be called by reserved words or non-ASCII names. The connection is created once and
        reused; it reads the Arrow tables in place (no copy, nothing written to the source).
        """
        if self._con is None:
            con = duckdb.connect(":memory:")
            for name, table in self.tables.items():
                times = self.row_times(name)
                if times is not None:
                    table = table.append_column(
                        TIME_COLUMN, pa.array(times, type=pa.timestamp("ns"), from_pandas=True)
                    )
                con.register(name, table)
            self._con = con
        return self._con

    def cut(self, cutoff: np.datetime64 | str) -> Database:
        """A copy holding only rows with time <= cutoff, used to prove that nothing leaks.

        Static tables are kept whole; rows of timed tables whose time is unknown (NaT) are
        dropped, as they are never sampled. The schema is copied with updated row counts.
        """
        cutoff = np.datetime64(cutoff, "ns")
        tables = {}
        schema = copy.deepcopy(self.schema)
        for name, table in self.tables.items():
            times = self.row_times(name)
            if times is not None:
                keep = ~np.isnat(times) & (times <= cutoff)
                table = table.filter(pa.array(keep))
            tables[name] = table
            schema.tables[name].rows = table.num_rows
        data = SourceData(self.source, tables, self.declared, f"{self.fingerprint}@{cutoff}")
        return Database(data, schema)


def connect(source: str | Path, schema: str | Path | None = None) -> Database:
    """Open a source and work out its schema.

    Args:
        source: ``sqlite:///f.db``, ``duckdb:///f.duckdb``, ``postgresql://…``,
            ``mysql://…``, or a folder of CSV / Parquet files (RelBench ``db/`` folders
            and Stack Exchange XML dumps are recognised).
        schema: optional TOML/YAML schema file overriding anything inferred.
    """
    from relgraph.connectors import read_source
    from relgraph.schema import build_schema

    data = read_source(str(source))
    return Database(data, build_schema(data, schema_file=schema))
