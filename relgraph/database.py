"""The one ``Database`` object that flows through relgraph: data, schema, row times."""

from __future__ import annotations

import contextlib
import copy
import threading
import weakref
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from relgraph.connectors.base import SourceData
from relgraph.errors import SchemaError
from relgraph.schema.entities import materialise
from relgraph.schema.model import Schema, SType
from relgraph.schema.times import is_number_type, parse_datetimes, resolve_row_times

#: Name of the extra column holding each row's time (own or inherited) in ``Database.duckdb()`` views.
TIME_COLUMN = "__rg_time"


#: Per database, the connection of each thread inside ``Database.own_connection`` (thread-local).
_THREAD_CONNECTIONS: weakref.WeakKeyDictionary[Database, threading.local] = weakref.WeakKeyDictionary()


class Database:
    """Tables (Arrow), the schema relgraph uses for them, and each row's time.

    Build it with :func:`relgraph.connect`. Nothing here writes to the user's source.
    """

    def __init__(self, data: SourceData, schema: Schema) -> None:
        self.source = data.source
        # Tables the schema makes (ids without a table of their own) join the source's tables.
        self.tables: dict[str, pa.Table] = materialise(data.tables, schema)
        self.declared = data.declared
        self.fingerprint = data.fingerprint
        self.schema = schema
        self._con: duckdb.DuckDBPyConnection | None = None
        #: Where SQL runs (``relgraph.engines``): "duckdb" (embedded) or "spark", and its options.
        self.engine = "duckdb"
        self.engine_options: dict[str, object] = {}

    def with_engine(self, engine: str = "duckdb", **options: object) -> Database:
        """This database (same object) set to run its SQL on ``engine`` ("duckdb" or "spark").

        Spark options: ``master`` (default ``local[2]``), ``staging_dir`` (where tables are
        written as Parquet for Spark to read), ``conf`` (extra Spark settings).
        """
        from relgraph.errors import QueryError

        if engine not in ("duckdb", "spark"):
            raise QueryError(f"unknown engine {engine!r}; use duckdb or spark")
        self.engine = engine
        self.engine_options = dict(options)
        return self

    def with_entity(self, table: str, column: str) -> Database:
        """A Database in which ``table.column``'s distinct values are entities (``FOR EACH
        commits.author_email`` when no table lists authors): the column becomes a foreign key to a
        made table of its values (own time ``first_seen``; see ``schema/value_entities.py``).
        ``self`` when the column is a key already (its primary key, or a foreign key).

        Raises:
            QueryError: an unknown table or column, or values that cannot name entities (why, in one line).
        """
        from relgraph.errors import QueryError
        from relgraph.schema.io import closest
        from relgraph.schema.value_entities import add_value_entity

        if table not in self.schema:
            raise QueryError(f"unknown table {table!r}{closest(table, self.schema.table_names)}")
        spec = self.schema[table]
        if column not in spec.column_names:
            raise QueryError(f"unknown column {column!r} in table {table!r}{closest(column, spec.column_names)}")
        if column == spec.primary_key or column in {fk.column for fk in spec.foreign_keys}:
            return self
        schema = copy.deepcopy(self.schema)
        add_value_entity(schema, self.tables, table, column)
        data = SourceData(self.source, self.tables, self.declared, f"{self.fingerprint}+{table}.{column}")
        return Database(data, schema).with_engine(self.engine, **self.engine_options)

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
        inherited; NULL where unknown). Number time columns (the own time column and
        ``timestamp`` columns stored as integers: epoch numbers, ``YYYYMMDD`` dates, years) appear
        as TIMESTAMP, so SQL over the views sees
        times wherever the schema does. Quote names in SQL (``SELECT * FROM "order"``): tables
        may be called by reserved words or non-ASCII names. The connection is created once and
        reused (inside :meth:`own_connection`, the thread's own); it reads the Arrow tables in place
        (no copy, nothing written to the source).
        """
        local = _THREAD_CONNECTIONS.get(self)
        own = getattr(local, "con", None) if local is not None else None
        return own if own is not None else self.shared_connection()

    def shared_connection(self) -> duckdb.DuckDBPyConnection:
        """The connection every thread outside :meth:`own_connection` shares (created on first use)."""
        if self._con is None:
            self._con = self._connect()
        return self._con

    @contextlib.contextmanager
    def own_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """In the block, this thread's SQL (:meth:`duckdb`) runs on a connection of its own over the
        same views, closed at the end: a DuckDB connection refuses a second caller while it runs, so
        threads that run SQL at once (ask's two feature builders, the GNN beside LightGBM) each take one."""
        local = _THREAD_CONNECTIONS.setdefault(self, threading.local())
        if getattr(local, "con", None) is not None:  # nested: the thread's connection already
            yield local.con
            return
        local.con = self._connect()
        try:
            yield local.con
        finally:
            local.con.close()
            local.con = None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        # No progress bar: DuckDB draws it on stdout, inside `--json` answers.
        con = duckdb.connect(":memory:")
        con.execute("SET enable_progress_bar = false")
        for name, table in self._views.items():
            con.register(name, table)
        return con

    @cached_property
    def _views(self) -> dict[str, pa.Table]:
        """Each table as the SQL views show it (epoch numbers as times, ``__rg_time`` appended)."""
        views = {}
        for name, table in self.tables.items():
            table = self._with_epoch_times(name, table)
            times = self.row_times(name)
            if times is not None:
                table = table.append_column(TIME_COLUMN, pa.array(times, type=pa.timestamp("ns"), from_pandas=True))
            views[name] = table
        return views

    def _with_epoch_times(self, name: str, table: pa.Table) -> pa.Table:
        """``table`` with its epoch-number time columns replaced by ``timestamp[ns]`` (NULL when implausible)."""
        spec = self.schema.tables.get(name)
        if spec is None:
            return table
        own = spec.time.column if spec.time is not None and spec.time.inherited_via is None else None
        if spec.time is not None and spec.time.parts:
            own = None  # the year of a date split over columns stays a number; __rg_time holds the time
        for column in spec.columns:
            if column.stype is not SType.TIMESTAMP and column.name != own:
                continue
            index = table.schema.get_field_index(column.name)
            if index < 0 or not is_number_type(table.schema.field(index).type):
                continue
            times, _ = parse_datetimes(table.column(index))
            table = table.set_column(
                index, column.name, pa.array(times, type=pa.timestamp("ns"), from_pandas=True)
            )
        return table

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
        return Database(data, schema).with_engine(self.engine, **self.engine_options)

    def subset(self, names: Iterable[str]) -> Database:
        """A Database holding only the tables ``names``, sharing their Arrow data (no copy).

        Used to show a model exactly the tables it was trained on when the source has grown
        others since (written predictions, unrelated tables). Tables keep this database's order;
        their schemas are copied unchanged (row counts, keys, times), as are row times already
        resolved. The fingerprint is unchanged when every table is kept, else it names the
        subset (so graph caches of the whole and of the subset never mix).

        Args:
            names: table names, each in ``self.tables``.
        Raises:
            KeyError: a name is not a table of this database.
            SchemaError: a kept table's foreign key, or the parent its time is inherited from,
                is a table left out (the subset would not be closed under its keys).
        """
        wanted = set(names)
        unknown = wanted - set(self.tables)
        if unknown:
            raise KeyError(sorted(unknown)[0])
        kept = [name for name in self.tables if name in wanted]
        for name in kept:
            spec = self.schema.tables[name]
            parents = [fk.references_table for fk in spec.foreign_keys]
            parents += [spec.time.parent_table] if spec.time is not None and spec.time.parent_table else []
            outside = [p for p in parents if p not in wanted]
            if outside:
                raise SchemaError(f"table {name!r} refers to table {outside[0]!r}, which the subset leaves out")
        schema = Schema({name: copy.deepcopy(self.schema.tables[name]) for name in kept}, list(self.schema.warnings))
        fingerprint = self.fingerprint if len(kept) == len(self.tables) else f"{self.fingerprint}[{','.join(kept)}]"
        data = SourceData(self.source, {name: self.tables[name] for name in kept}, self.declared, fingerprint)
        out = Database(data, schema).with_engine(self.engine, **self.engine_options)
        if "_row_times" in self.__dict__:  # times of kept tables depend only on kept tables (closed above)
            out.__dict__["_row_times"] = {n: t for n, t in self._row_times.items() if n in wanted}
        return out


def connect(
    source: str | Path,
    schema: str | Path | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    spark_conf: dict[str, str] | None = None,
) -> Database:
    """Open a source and work out its schema.

    Args:
        source: ``sqlite:///f.db``, ``duckdb:///f.duckdb``, ``postgresql://…``,
            ``mysql://…``, or a folder of CSV / Parquet files (RelBench ``db/`` folders
            and Stack Exchange XML dumps are recognised).
        schema: optional TOML/YAML schema file overriding anything inferred.
        engine: where labels and features are computed: ``"duckdb"`` (embedded, default) or
            ``"spark"`` (PySpark; see :mod:`relgraph.engines`).
        spark_master: the Spark master with ``engine="spark"`` (default ``local[2]``).
        spark_conf: extra Spark settings with ``engine="spark"`` (e.g. ``{"spark.driver.memory": "16g"}``).
    """
    from relgraph.connectors import read_source
    from relgraph.connectors.files import separate_parts
    from relgraph.schema import build_schema, load_schema_file

    data = read_source(str(source))
    if schema is not None:  # files the reader combined into one table, read apart as the file says
        overrides = load_schema_file(schema)
        apart = [name for name, o in overrides.tables.items() if o.parts is False]
        data = separate_parts(data, apart, f"schema file {overrides.path}")
    db = Database(data, build_schema(data, schema_file=schema))
    options: dict[str, object] = {} if spark_master is None else {"master": spark_master}
    if spark_conf:
        options["conf"] = dict(spark_conf)
    return db.with_engine(engine, **options)
