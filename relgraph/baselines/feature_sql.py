"""SQL text of the temporal feature builder: quoting, literals, day arithmetic, the as-of
locator, and running one statement on an engine (translated for Spark where DuckDB's dialect
is not faithful). See :mod:`relgraph.baselines.aggregates` for what the features are.
"""

from __future__ import annotations

import contextlib
import re
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph.database import TIME_COLUMN
from relgraph.engines import Engine
from relgraph.schema.model import SType, TableSchema

_DAY_SECONDS = 86400.0
#: Every per-database cache of the feature code (:func:`database_cache`), which
#: ``clear_feature_cache`` empties.
_DATABASE_CACHES: list[weakref.WeakKeyDictionary[Any, Any]] = []


def database_cache() -> weakref.WeakKeyDictionary[Any, Any]:
    """A new cache keyed by the database (gone with it), emptied by ``clear_feature_cache``."""
    cache: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
    _DATABASE_CACHES.append(cache)
    return cache


def clear_database_caches() -> None:
    """Empty every cache made by :func:`database_cache`."""
    for cache in _DATABASE_CACHES:
        cache.clear()


def _q(name: str) -> str:
    """SQL identifier quoting."""
    return '"' + name.replace('"', '""') + '"'


def _days(later: str, earlier: str) -> str:
    return f"((epoch({later}) - epoch({earlier})) / {_DAY_SECONDS})"


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def _std_sql(n: str, s1: str, s2: str) -> str:
    """Sample standard deviation from count, centred sum and centred sum of squares.

    A spread below 1e-10 of the sum of squares is rounding noise of the differenced running sums
    (values that are not integers, such as 1.33 points): it is 0, in every engine alike.
    """
    spread = f"({s2} - {s1} * {s1} / {n})"
    return f"CASE WHEN {n} > 1 THEN CASE WHEN {spread} <= 1e-10 * {s2} THEN 0.0 ELSE sqrt({spread} / ({n} - 1)) END END"


def _extreme_column(agg: str, index: int, days: int) -> str:
    """Column of :meth:`TemporalFeatureBuilder._window_extremes` holding ``agg`` of numeric column ``index`` over ``days``."""
    return f"x{index}_{agg}_{days}d"


def _value_tag(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    # Feature names stay plain (LightGBM rejects JSON punctuation in them).
    return re.sub(r"[^0-9A-Za-z_\-]+", "_", str(value))


def _visible(alias: str, ts: TableSchema, t: str) -> str:
    """SQL condition: the row of ``alias`` exists at time ``t``."""
    return "TRUE" if ts.time is None else f"{alias}.{TIME_COLUMN} <= {t}"


def _value_columns(ts: TableSchema) -> tuple[list[str], list[str], list[str]]:
    """Numeric, categorical and timestamp feature columns of a table (keys and its time column excluded)."""
    keys = {ts.primary_key} | {fk.column for fk in ts.foreign_keys}
    skip = keys | {ts.time.column} if ts.time and ts.time.inherited_via is None else keys
    if ts.time and ts.time.time_of_day_column:
        skip = skip | {ts.time.time_of_day_column}
    num = [c.name for c in ts.columns if c.stype == SType.NUMERICAL and c.name not in skip]
    cat = [c.name for c in ts.columns if c.stype == SType.CATEGORICAL and c.name not in skip]
    tss = [c.name for c in ts.columns if c.stype == SType.TIMESTAMP and c.name not in skip]
    return num, cat, tss


def _parent_label(ts: TableSchema, fk: Any) -> str:
    """Name of a parent reached through ``fk``: the table, or the fk column when the table is referenced twice."""
    same = [f for f in ts.foreign_keys if f.references_table == fk.references_table]
    return fk.references_table if len(same) == 1 else fk.column


def _unique_child(schema: Any, parent: str, child: str) -> bool:
    return sum(1 for c, fk in schema.edges() if c == child and fk.references_table == parent) == 1


@contextlib.contextmanager
def registered_positions(con: Engine, rows: pa.Table) -> Iterator[str]:
    """``rows``' ``(__anchor, __t)`` with their positions ``__i``, registered on ``con`` while in
    use (yields the name): the right side of :func:`_locate_sql`."""
    name = f"__rg_pos_{uuid.uuid4().hex}"
    con.register(name, pa.table({"__anchor": rows.column("__anchor"), "__t": rows.column("__t"),
                                 "__i": pa.array(np.arange(rows.num_rows, dtype=np.int64))}))
    try:
        yield name
    finally:
        con.unregister(name)


def _locate_sql(pos_name: str, frame_sql: str, shifts: list[int]) -> str:
    """Per frame row, the index ``__i`` of its anchor's last running row at or before ``t``
    (``__r``) and at or before ``t - w`` days (``__w<w>``), ordered by ``__fid``.

    The running rows (kind 0) and the frame rows shifted by each window (kind 1) form one
    union; a running ``max(__i)`` per anchor in time order (running rows first on a tie) is,
    at a frame row, the last running row at or before its time: what an ``ASOF JOIN`` on
    ``anchor = anchor AND t >= t`` returns, as running indices grow with time within an anchor.
    """
    kinds = [f"SELECT __anchor AS __a, __t, 0 AS __k, __i, CAST(NULL AS BIGINT) AS __fid, CAST(NULL AS INTEGER) AS __s FROM {pos_name}",
             f"SELECT __a, __t, 1, CAST(NULL AS BIGINT), __fid, 0 FROM ({frame_sql})"]
    kinds += [f"SELECT __a, __t - INTERVAL {int(w)} DAY, 1, CAST(NULL AS BIGINT), __fid, {int(w)} FROM ({frame_sql})" for w in shifts]
    picks = ", ".join(f"max(CASE WHEN __s = {int(w)} THEN __p END) AS {c}"
                      for w, c in [(0, "__r")] + [(w, f"__w{w}") for w in shifts])
    return (
        f"SELECT __fid, max(__t0) AS __t, {picks} FROM ("
        f"SELECT __fid, __s, __k, CASE WHEN __s = 0 THEN __t END AS __t0, "
        f"max(__i) OVER (PARTITION BY __a ORDER BY __t, __k ROWS UNBOUNDED PRECEDING) AS __p "
        f"FROM ({' UNION ALL '.join(kinds)})) WHERE __k = 1 GROUP BY __fid ORDER BY __fid"
    )


def _struct(table: pa.Table) -> pa.StructArray:
    """The columns of ``table`` as one struct array (``T.c`` reads column ``c`` in both engines)."""
    table = table.combine_chunks()
    arrays = [c.chunk(0) if c.num_chunks else pa.array([], type=c.type) for c in table.columns]
    return pa.StructArray.from_arrays(arrays, names=table.column_names) if arrays else pa.array([{}] * table.num_rows)


def _execute(con: Engine, sql: str, large: bool = False) -> pa.Table:
    """Run one statement of the builder (DuckDB dialect) on ``con``, translated for its dialect."""
    return con.execute(sql if con.name == "duckdb" else _spark_sql(sql), {}, large=large)


def _rows(con: Engine, sql: str) -> list[tuple[Any, ...]]:
    table = _execute(con, sql)
    return list(zip(*(c.to_pylist() for c in table.columns))) if table.num_columns else []


def _spark_sql(sql: str) -> str:
    """The builder's DuckDB construct whose generic translation is not faithful, rewritten on the AST.

    The statement stays in DuckDB's dialect (the Spark engine transpiles it, TIMESTAMP_NS
    included), but ``epoch(t)`` (seconds with microseconds: DuckDB truncates nanoseconds)
    becomes ``unix_micros(t) / 1e6``, exactly the same double, where sqlglot's default,
    ``unix_timestamp``, would drop the fraction.
    """
    import sqlglot
    from sqlglot import exp

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.TimeToUnix):
            ltz = exp.DataType.build("TIMESTAMPTZ")
            micros = exp.Anonymous(this="unix_micros", expressions=[exp.Cast(this=node.this, to=ltz)])
            return exp.Div(this=micros, expression=exp.Literal.number("1e6"))
        return node

    return sqlglot.parse_one(sql, read="duckdb").transform(rewrite).sql(dialect="duckdb")


def _top_values(con: Engine, sql: str, k: int) -> list[Any]:
    """The ``k`` most frequent non-null values (as text) of column ``v`` of ``sql``."""
    rows = _rows(con, f"SELECT CAST(v AS VARCHAR) AS v, count(*) AS n FROM ({sql}) WHERE v IS NOT NULL GROUP BY 1 ORDER BY n DESC, v LIMIT {int(k)}")
    return [r[0] for r in rows]
