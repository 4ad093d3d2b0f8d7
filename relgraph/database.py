"""The one ``Database`` object that flows through relgraph: data, schema, row times."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.connectors.base import SourceData
from relgraph.schema.model import Schema

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

        Inherited times (a results row takes its race's date) are resolved through the
        foreign key named in the schema.
        """
        return self._row_times.get(name)

    @cached_property
    def _row_times(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        # Own times first, then inherited ones (a parent's time is always an own time).
        for tname, ts in self.schema.tables.items():
            if ts.time is not None and ts.time.inherited_via is None:
                out[tname] = _own_times(self.tables[tname], ts.time.column, ts.time.time_of_day_column)
        for tname, ts in self.schema.tables.items():
            if ts.time is None or ts.time.inherited_via is None:
                continue
            parent = ts.time.parent_table
            assert parent is not None
            fk = next(f for f in ts.foreign_keys if f.column == ts.time.inherited_via)
            parent_times = out.get(parent)
            if parent_times is None:
                continue
            out[tname] = _lookup(
                self.tables[tname].column(fk.column),
                self.tables[parent].column(fk.references_column),
                parent_times,
            )
        return out

    def time_span(self) -> tuple[np.datetime64, np.datetime64] | None:
        """Earliest and latest known row time over all timed tables."""
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

        Timed tables carry an extra ``__rg_time`` TIMESTAMP column with the row's time
        (own or inherited). The connection is created once and reused.
        """
        if self._con is None:
            con = duckdb.connect(":memory:")
            for name, table in self.tables.items():
                times = self.row_times(name)
                if times is not None:
                    table = table.append_column(TIME_COLUMN, pa.array(times, type=pa.timestamp("ns")))
                con.register(name, table)
            self._con = con
        return self._con

    def cut(self, cutoff: np.datetime64 | str) -> Database:
        """A copy holding only rows with time <= cutoff (static tables whole): used to prove no leakage."""
        cutoff = np.datetime64(cutoff, "ns")
        tables = {}
        for name, table in self.tables.items():
            times = self.row_times(name)
            if times is None:
                tables[name] = table
            else:
                keep = ~np.isnat(times) & (times <= cutoff)
                tables[name] = table.filter(pa.array(keep))
        data = SourceData(self.source, tables, self.declared, f"{self.fingerprint}@{cutoff}")
        return Database(data, self.schema)


def _own_times(table: pa.Table, column: str, time_of_day: str | None) -> np.ndarray:
    arr = table.column(column)
    if not pa.types.is_timestamp(arr.type) and not pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("ns"))
    times = arr.to_numpy().astype("datetime64[ns]")
    if time_of_day is not None:
        tod = table.column(time_of_day)
        if pa.types.is_time(tod.type):
            secs = pc.cast(tod, pa.int64()) if tod.type.unit == "s" else None
            if secs is None:
                nanos = pc.cast(pc.cast(tod, pa.time64("ns")), pa.int64())
            else:
                nanos = pc.multiply(secs, 1_000_000_000)
            offs = nanos.to_numpy(zero_copy_only=False)
            offs = np.where(np.isnan(offs.astype(float)), 0, offs).astype("int64")
            times = times + offs.astype("timedelta64[ns]")
    return times


def _lookup(child_keys: pa.ChunkedArray, parent_keys: pa.ChunkedArray, parent_values: np.ndarray) -> np.ndarray:
    """For each child key, the value of the parent row with that key (NaT when dangling or null)."""
    idx = pc.index_in(child_keys, value_set=parent_keys.combine_chunks()).to_numpy(zero_copy_only=False)
    idx = np.asarray(idx, dtype="float64")
    out = np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(idx)
    out[ok] = parent_values[idx[ok].astype(np.int64)]
    return out


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
