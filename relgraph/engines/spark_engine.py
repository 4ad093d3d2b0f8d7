"""Apache Spark through PySpark: the same SQL, translated from DuckDB's dialect by sqlglot.

How a statement reaches Spark
-----------------------------
SQL is written once, in DuckDB's dialect with ``$name`` parameters (the training-table planner,
the feature builder). :meth:`SparkEngine.execute` parses it with sqlglot, replaces every
``$name`` placeholder by a typed literal node (never by pasting text), applies
:func:`to_spark` — the one place where DuckDB constructs sqlglot does not translate faithfully
are rewritten on the AST — and has sqlglot write Spark SQL. We chose the transpiler over a
second dialect in the planner so the logic exists once: the planner keeps emitting one
statement and every engine-specific spelling lives in :func:`to_spark`, tested by running the
same queries on both engines (tests/engines). Where a construct could be changed in the planner
to one both engines read identically (and DuckDB's results stay bit-identical), the planner was
changed instead (FIRST/LAST skip NULL values explicitly, which DuckDB's ``arg_min`` already did).

What :func:`to_spark` rewrites:

* ``to_days(n)`` / ``to_weeks`` / ``to_hours`` / ``to_minutes`` -> ``make_dt_interval(...)`` and
  ``to_months(n)`` -> ``make_ym_interval(0, n)`` (sqlglot keeps the DuckDB names, which Spark
  lacks). Adding months clips to the month's last day in both engines.
* ``CAST(x AS TIMESTAMP[_NS|_MS|_S])`` -> ``CAST(x AS TIMESTAMP_NTZ)``: Spark has no nanosecond
  type; times are wall-clock times without zone, as in DuckDB (microsecond precision on Spark).
* ``list(DISTINCT x ORDER BY x) FILTER (WHERE ...)`` -> sqlglot drops the ORDER BY and Spark's
  ``collect_list`` gives ``[]`` over no rows where DuckDB gives NULL, so it becomes
  ``IF(size(a) = 0, NULL, array_sort(a))`` with ``a = collect_set(x) FILTER (WHERE ...)``.
* ``arg_min(v, struct_pack(t := .., k := ..))`` -> ``min_by(v, named_struct(..))`` (sqlglot's own
  translation; structs compare field by field in both engines).

Session settings: ``spark.sql.session.timeZone=UTC`` and ``spark.sql.timestampType=TIMESTAMP_NTZ``
(times never shift); ANSI mode stays on (Spark 4's default) because DuckDB 2 also raises on
invalid casts and integer overflow instead of returning NULL (the planner emits no division;
DuckDB's float division by zero gives inf where ANSI Spark raises). UI off, few shuffle
partitions (``local[2]`` tests), adaptive execution on.

Data: every table is staged once exactly as ``db.duckdb()`` shows it (``__rg_time`` and epoch
times as timestamps included), written by DuckDB's ``COPY ... (FORMAT parquet)`` into
``.relgraph_cache/spark/<hash of the fingerprint and schema>/`` (reused when complete; a
database without a content fingerprint is staged in a fresh temporary folder), and registered as
a temporary view named as the table, in a Spark session of its own (``newSession()``: one
database's views never shadow another's, the SparkContext is shared). Every source
``relgraph.connect`` reads (Parquet / CSV folders, RelBench folders, SQLite / DuckDB files,
PostgreSQL / MySQL) is staged the same way, through the driver; Spark does not yet read a
database over JDBC itself. With a cluster master, pass a ``staging_dir`` every executor can read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.errors import QueryError

logger = logging.getLogger(__name__)

#: Default Spark settings (``conf`` overrides them).
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    # unlimited (Spark: 1g): the feature builder collects running tables to the driver
    "spark.driver.maxResultSize": "0",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}

_MARKER = "_RELGRAPH_STAGED"
#: Registered tables with more rows go to Spark as Parquet files, not as relations in the driver's heap.
REGISTER_IN_MEMORY_ROWS = 500_000
#: Database rows per shuffle partition (``spark.sql.shuffle.partitions`` when not set): 4 keeps
#: small databases quick; a large one needs more, smaller partitions, or one task's
#: aggregation runs out of memory (50M event rows with 4 partitions: AGGREGATE_OUT_OF_MEMORY).
ROWS_PER_SHUFFLE_PARTITION = 500_000


def shuffle_partitions(rows: int) -> int:
    """Shuffle partitions for a database of ``rows`` rows (adaptive execution merges small ones)."""
    return max(4, min(800, -(-rows // ROWS_PER_SHUFFLE_PARTITION)))


def default_driver_memory() -> str:
    """``spark.driver.memory`` when not set: a third of this machine's memory, at least 2g (in
    ``local[N]`` the driver is also the executor; 2g ran out at 10M event rows)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "2g"
    return f"{max(2, int(total / 3 / 2**30))}g"


def _require_pyspark() -> Any:
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise QueryError("the spark engine needs PySpark: pip install 'relgraph[spark]'") from err
    try:
        import sqlglot  # noqa: F401
    except ImportError as err:
        raise QueryError("the spark engine needs sqlglot: pip install 'relgraph[spark]'") from err
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and Path(java_home, "bin", "java").exists()) and shutil.which("java") is None:
        raise QueryError("the spark engine needs Java 17 or later (no java on PATH and JAVA_HOME unset)")
    return SparkSession


def spark_session(master: str = "local[2]", conf: dict[str, str] | None = None) -> Any:
    """The process's SparkSession (created on first use with relgraph's defaults)."""
    SparkSession = _require_pyspark()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.master(master).appName("relgraph")
    settings = {**DEFAULT_CONF, "spark.driver.memory": default_driver_memory(), **(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, str(value))
    try:
        with _quiet():
            session = builder.getOrCreate()
    except Exception as err:  # JVM failed to start
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise QueryError(f"could not start Spark (master {master}): {reason}") from err
    session.sparkContext.setLogLevel("ERROR")  # Spark's own warnings would drown the CLI's output
    return session


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence PySpark's warning about pandas versions newer than it has been tested with."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support", category=FutureWarning
        )
        yield


def _literal(value: Any) -> Any:
    """A sqlglot literal node for a parameter value."""
    from sqlglot import exp

    if value is None:
        return exp.Null()
    if isinstance(value, (bool, np.bool_)):
        return exp.Boolean(this=bool(value))
    if isinstance(value, (int, np.integer)):
        return exp.Literal.number(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not np.isfinite(number):
            return exp.Cast(this=exp.Literal.string(str(number)), to=exp.DataType.build("DOUBLE"))
        return exp.Cast(this=exp.Literal.number(repr(number)), to=exp.DataType.build("DOUBLE"))
    if isinstance(value, decimal.Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, (pd.Timestamp, dt.datetime, np.datetime64)):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        text = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
        return exp.Cast(
            this=exp.Literal.string(text), to=exp.DataType.build("TIMESTAMP_NTZ", dialect="spark")
        )
    if isinstance(value, dt.date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise QueryError(f"cannot pass a parameter of type {type(value).__name__} to Spark SQL")


def _interval(node: Any) -> Any:
    from sqlglot import exp

    def call(name: str, *args: Any) -> Any:
        return exp.Anonymous(this=name, expressions=list(args))

    def as_int(arg: Any) -> Any:
        return exp.Cast(this=arg, to=exp.DataType.build("INT"))

    zero = exp.Literal.number(0)
    if isinstance(node, exp.ToDays):
        return call("make_dt_interval", as_int(node.this), zero, zero, zero)
    name = node.name.lower()
    arg = node.expressions[0]
    if name == "to_days":
        return call("make_dt_interval", as_int(arg), zero, zero, zero)
    if name == "to_weeks":
        return call(
            "make_dt_interval", exp.Mul(this=as_int(arg), expression=exp.Literal.number(7)), zero, zero, zero
        )
    if name == "to_hours":
        return call("make_dt_interval", zero, as_int(arg), zero, zero)
    if name == "to_minutes":
        return call("make_dt_interval", zero, zero, as_int(arg), zero)
    if name == "to_months":
        return call("make_ym_interval", zero, as_int(arg))
    if name == "to_years":
        return call("make_ym_interval", as_int(arg), zero)
    return node


_TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATETIME"}


def _sorted_list(node: Any) -> Any:
    """``list(DISTINCT x ORDER BY x) [FILTER (...)]`` as Spark's sorted ``collect_set`` (NULL when empty)."""
    from sqlglot import exp

    agg = node.this if isinstance(node, exp.Filter) else node
    inner = agg.this
    if isinstance(inner, exp.Order):
        inner = inner.this
    distinct = isinstance(inner, exp.Distinct)
    value = inner.expressions[0] if distinct else inner
    collected: Any = exp.Anonymous(
        this="collect_set" if distinct else "collect_list", expressions=[value.copy()]
    )
    if isinstance(node, exp.Filter):
        collected = exp.Filter(this=collected, expression=node.expression.copy())
    empty = exp.EQ(
        this=exp.Anonymous(this="size", expressions=[collected.copy()]), expression=exp.Literal.number(0)
    )
    return exp.If(
        this=empty, true=exp.Null(), false=exp.Anonymous(this="array_sort", expressions=[collected])
    )


def to_spark(tree: Any) -> Any:
    """Rewrite a DuckDB-dialect AST (placeholders already bound) where sqlglot's Spark output differs."""
    from sqlglot import exp

    def fix(node: Any) -> Any:
        if isinstance(node, exp.ToDays) or (
            isinstance(node, exp.Anonymous)
            and node.name.lower()
            in {"to_days", "to_weeks", "to_hours", "to_minutes", "to_months", "to_years"}
        ):
            return _interval(node)
        if isinstance(node, exp.DataType) and node.this.name in _TIMESTAMP_TYPES:
            return exp.DataType.build("TIMESTAMP_NTZ", dialect="spark")
        if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
            return _sorted_list(node)
        if isinstance(node, exp.ArrayAgg) and not isinstance(node.parent, exp.Filter):
            return _sorted_list(node)
        return node

    return tree.transform(fix)


def translate(sql: str, params: dict[str, Any] | None = None) -> str:
    """Spark SQL for one DuckDB-dialect statement, ``$name`` parameters bound as typed literals."""
    import sqlglot
    from sqlglot import exp

    params = params or {}
    tree = sqlglot.parse_one(sql, read="duckdb")

    def bind(node: Any) -> Any:
        if isinstance(node, exp.Placeholder):
            name = node.name
            if name not in params:
                raise QueryError(f"no value for the SQL parameter ${name}")
            return _literal(params[name])
        return node

    tree = to_spark(tree.transform(bind))
    return tree.sql(dialect="spark")


def _spark_safe_select(con: Any, name: str) -> str:
    """A DuckDB SELECT over view ``name`` with column types Spark reads from Parquet."""
    rows = con.execute(f"DESCRIBE {_quote(name)}").fetchall()
    columns = []
    for column, sql_type, *_ in rows:
        kind = str(sql_type).upper()
        ident = _quote(column)
        if kind.startswith("TIMESTAMP") and "TIME ZONE" not in kind:
            columns.append(f"CAST({ident} AS TIMESTAMP) AS {ident}")
        elif (
            kind in ("TIME", "UUID", "INTERVAL", "BIT") or kind.startswith("ENUM") or kind.startswith("TIME ")
        ):
            columns.append(f"CAST({ident} AS VARCHAR) AS {ident}")
        elif kind in ("HUGEINT", "UHUGEINT"):
            columns.append(f"CAST({ident} AS DECIMAL(38, 0)) AS {ident}")
        elif kind == "UBIGINT":
            columns.append(f"CAST({ident} AS DECIMAL(20, 0)) AS {ident}")
        else:
            columns.append(ident)
    return f"SELECT {', '.join(columns) or '*'} FROM {_quote(name)}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _backquote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _write(db: Any, folder: Path) -> Path:
    """Each table of ``db.duckdb()`` as ``folder/t<i>.parquet`` (DuckDB COPY), then the marker file."""
    folder.mkdir(parents=True, exist_ok=True)
    con = db.duckdb()
    for index, name in enumerate(db.tables):
        path = str(folder / f"t{index}.parquet").replace("'", "''")
        con.execute(f"COPY ({_spark_safe_select(con, name)}) TO '{path}' (FORMAT parquet)")
    (folder / _MARKER).write_text(json.dumps(list(db.tables)))
    return folder.resolve()


def _staging_key(db: Any) -> str:
    """Hash of what the staged views depend on: the data fingerprint and the schema's times."""
    schema = getattr(db, "schema", None)
    times = {}
    for name, spec in getattr(schema, "tables", {}).items():
        times[name] = [repr(spec.time), [(c.name, str(c.stype)) for c in spec.columns]]
    text = json.dumps([str(db.fingerprint), sorted(db.tables), times], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


class SparkEngine:
    """Runs DuckDB-dialect statements on Spark over Parquet copies of the database's views.

    Args:
        db: the :class:`relgraph.database.Database`.
        master: Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``, ...); used when
            this process has no SparkSession yet.
        staging_dir: folder for the Parquet copies (default ``.relgraph_cache/spark/<hash>``;
            with a cluster master it must be a path every executor reads).
        conf: extra Spark settings for a session created here.
    """

    name = "spark"

    def __init__(
        self,
        db: Any,
        master: str = "local[2]",
        staging_dir: str | Path | None = None,
        conf: dict[str, str] | None = None,
    ) -> None:
        self.master = master
        self.spark = spark_session(master, conf).newSession()
        for key in ("spark.sql.session.timeZone", "spark.sql.timestampType", "spark.sql.ansi.enabled"):
            self.spark.conf.set(key, (conf or {}).get(key, DEFAULT_CONF[key]))
        partitions = (conf or {}).get("spark.sql.shuffle.partitions")
        rows = sum(table.num_rows for table in db.tables.values())
        self.spark.conf.set("spark.sql.shuffle.partitions", str(partitions or shuffle_partitions(rows)))
        self.staging_dir = self._stage(db, staging_dir)
        self._files: dict[str, Path] = {}  # registered relations written as Parquet: their folders
        self.tables = list(db.tables)
        for index, name in enumerate(self.tables):
            frame = self.spark.read.parquet(str(self.staging_dir / f"t{index}.parquet"))
            frame.createOrReplaceTempView(_backquote(name))

    def _stage(self, db: Any, staging_dir: str | Path | None) -> Path:
        if staging_dir is None:
            if str(getattr(db, "source", "")).startswith("memory://"):
                # An in-memory database has no trustworthy fingerprint: a fresh folder, removed
                # with the engine.
                folder = Path(tempfile.mkdtemp(prefix="relgraph-spark-"))
                weakref.finalize(self, shutil.rmtree, str(folder), True)
                return _write(db, folder)
            staging_dir = Path(".relgraph_cache") / "spark" / _staging_key(db)
        folder = Path(staging_dir)
        if (folder / _MARKER).exists():
            return folder.resolve()
        # Written beside the target, then renamed: a folder with the marker is always complete.
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        _write(db, scratch)
        try:
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
            os.replace(scratch, folder)
        except OSError as err:  # staged meanwhile by another process (or a non-empty folder we keep)
            shutil.rmtree(scratch, ignore_errors=True)
            if not (folder / _MARKER).exists():
                raise QueryError(
                    f"cannot stage the tables for Spark in {folder} (a folder that is not relgraph's)"
                ) from err
        return folder.resolve()

    def sql(self, sql: str, params: dict[str, Any] | None = None) -> str:
        """The Spark SQL :meth:`execute` runs for ``sql``."""
        return translate(sql, params)

    def execute(self, sql: str, params: dict[str, Any] | None = None, large: bool = False) -> pa.Table:
        spark_sql = translate(sql, params)
        started = time.perf_counter()
        try:
            with _quiet():
                if large:
                    result = self._through_parquet(self.spark.sql(spark_sql))
                else:
                    result = self.spark.sql(spark_sql).toArrow()
            logger.debug("spark %.1f s, %d rows: %s", time.perf_counter() - started, result.num_rows, spark_sql[:300])
            return result
        except Exception as err:
            logger.error("this Spark SQL failed after %.0f s: %s", time.perf_counter() - started, spark_sql[:4000])
            if isinstance(err, (ConnectionError, EOFError)) or type(err).__name__ == "Py4JNetworkError":
                raise QueryError(  # the JVM went away: most often out of memory
                    f"Spark stopped during the query ({type(err).__name__}), most often out of memory: "
                    "give it more with --spark-conf spark.driver.memory=16g "
                    "(Python: relgraph.connect(..., spark_conf={'spark.driver.memory': '16g'}))"
                ) from err
            text = str(err).strip()
            lines = text.splitlines()
            # py4j's first line names only the call ("An error occurred while calling o341..."):
            # the innermost Java cause says what failed
            causes = [line.strip().removeprefix("Caused by:").strip() for line in lines if line.startswith("Caused by:")]
            cause = causes[-1] if causes else next((line.strip(": ") for line in lines if "Exception:" in line), None)
            reason = (cause or (lines[0] if lines else type(err).__name__))[:300]
            if "OutOfMemory" in reason or "OUT_OF_MEMORY" in reason:
                reason += "; raise --spark-conf spark.driver.memory or spark.sql.shuffle.partitions"
            raise QueryError(
                f"the SQL failed in Spark ({reason}); see the SQL with relgraph query --explain"
            ) from err

    def _through_parquet(self, frame: Any) -> pa.Table:
        """``frame``'s rows, in order, written by Spark as Parquet and read back here: the driver's
        JVM never holds the whole result (``toArrow`` collects it in the heap first)."""
        folder = Path(tempfile.mkdtemp(prefix=".result-", dir=self.staging_dir.parent))
        names = list(frame.columns)
        try:
            # Plain positional names on disk: any column name (dots, spaces, repeats) comes back.
            frame.toDF(*[f"c{i}" for i in range(len(names))]).write.mode("overwrite").parquet(str(folder / "r"))
            # part files are numbered by partition, and a sorted result's partitions are in order
            parts = sorted((folder / "r").glob("part-*.parquet"))
            tables = [pq.read_table(p) for p in parts]
            if not tables:
                return frame.limit(0).toArrow()
            return pa.concat_tables(tables).rename_columns(names)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def register(self, name: str, table: pa.Table | pd.DataFrame) -> None:
        arrow = table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)
        fields = []
        for field in arrow.schema:
            kind = field.type
            if pa.types.is_timestamp(kind):
                # Wall-clock time: a zone-aware column is first brought to UTC.
                kind = pa.timestamp("us")
            elif pa.types.is_dictionary(kind):
                kind = kind.value_type
            fields.append(pa.field(field.name, kind))
        # Spark times are microseconds: finer digits are dropped (as in the staged tables).
        arrow = arrow.cast(pa.schema(fields), safe=False) if fields else arrow
        self.unregister(name)
        with _quiet():
            if arrow.num_rows > REGISTER_IN_MEMORY_ROWS:
                # Large: a Parquet file Spark reads, not a relation held in the driver's heap.
                folder = Path(tempfile.mkdtemp(prefix=".registered-", dir=self.staging_dir.parent))
                pq.write_table(arrow, folder / "t.parquet")
                self._files[name] = folder
                frame = self.spark.read.parquet(str(folder / "t.parquet"))
            else:
                frame = self.spark.createDataFrame(arrow)
        frame.createOrReplaceTempView(_backquote(name))

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(_backquote(name))
        folder = self._files.pop(name, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
