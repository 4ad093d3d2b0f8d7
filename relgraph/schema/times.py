"""Turning column values into row times, shared by schema inference and ``Database.row_times``.

All functions are vectorised (Arrow casts, DuckDB ``TRY_CAST`` for strings); none loops over rows.
Results are ``datetime64[ns]`` NumPy arrays with ``NaT`` for nulls, naive (timezone-aware
Arrow timestamps are converted to UTC first).
"""

from __future__ import annotations

import threading

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import SchemaError
from relgraph.schema.model import Schema, TableSchema

_local = threading.local()
#: A clock time as text: ``6:00``, ``06:00:00``, ``06:00:00.5``.
CLOCK_PATTERN = r"^\s*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*$"


def _duckdb() -> duckdb.DuckDBPyConnection:
    """One private in-memory DuckDB connection per thread, used only to parse strings."""
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(":memory:")
        _local.con = con
    return con


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def is_datetime_type(dtype: pa.DataType) -> bool:
    """Date or timestamp: a type that can be a row time as it is."""
    return pa.types.is_timestamp(dtype) or pa.types.is_date(dtype)


def is_clock_type(dtype: pa.DataType) -> bool:
    """Time-of-day or duration: a clock value without a date, never a row time by itself."""
    return pa.types.is_time(dtype) or pa.types.is_duration(dtype)


def is_stringlike(dtype: pa.DataType) -> bool:
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype)


def _try_cast_strings(values: pa.Array, sql_type: str) -> pa.Array:
    """DuckDB ``TRY_CAST`` of a string array (null where a value does not parse)."""
    relation = _duckdb().from_arrow(pa.table({"v": values.cast(pa.string())}))
    return relation.project(f"TRY_CAST(v AS {sql_type}) AS t").to_arrow_table().column("t").combine_chunks()


def parse_datetimes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Parse values into row times.

    Args:
        values: date, timestamp or string values (ISO 8601 strings, date-only or with a time).
    Returns:
        ``(times, bad)``: ``times`` is ``datetime64[ns]`` of the same length (NaT for null or
        unparsable); ``bad`` holds the non-null input values that did not parse (empty if all did).
    Raises:
        TypeError: for types that cannot hold a time (numbers, booleans, ...).
    """
    arr = _as_array(values)
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is not None:
            arr = arr.cast(pa.timestamp(arr.type.unit))  # Arrow stores UTC: dropping tz keeps UTC instants
        return arr.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False), pa.array([], arr.type)
    if pa.types.is_date(arr.type):
        return arr.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False), pa.array([], arr.type)
    if is_stringlike(arr.type):
        parsed = _try_cast_strings(arr, "TIMESTAMP")
        bad = arr.filter(pc.and_(pc.is_valid(arr), pc.is_null(parsed)))
        return parsed.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False), bad
    if pa.types.is_null(arr.type):
        return np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[ns]"), pa.array([], pa.string())
    raise TypeError(f"{arr.type} values cannot be row times")


def is_date_only(values: pa.Array | pa.ChunkedArray) -> bool:
    """True when the values carry a date but no clock time (date type, or every time at midnight)."""
    arr = _as_array(values)
    if pa.types.is_date(arr.type):
        return True
    times, _ = parse_datetimes(arr)
    valid = times[~np.isnat(times)]
    return bool(len(valid)) and bool(np.all(valid == valid.astype("datetime64[D]")))


def parse_clock_times(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Parse time-of-day values (``time32``/``time64``, durations since midnight, or strings like ``06:00:00``).

    Returns:
        ``(offsets, bad)``: ``offsets`` is ``timedelta64[ns]`` since midnight (NaT for null or
        unparsable; values outside [0, 24 h) count as unparsable); ``bad`` the non-null values
        that did not parse.
    """
    arr = _as_array(values)
    if pa.types.is_time(arr.type):
        nanos = arr.cast(pa.time64("ns")).cast(pa.int64())
        bad = pa.array([], arr.type)
    elif pa.types.is_duration(arr.type):  # some drivers read SQL TIME as a duration since midnight
        nanos = arr.cast(pa.duration("ns")).cast(pa.int64())
        bad = pa.array([], arr.type)
    elif is_stringlike(arr.type):
        # DuckDB also reads "2009-03-27 10:00" as a TIME; a clock column must hold only clock values.
        is_clock = pc.fill_null(pc.match_substring_regex(arr, CLOCK_PATTERN), False)
        parsed = pc.if_else(is_clock, _try_cast_strings(arr, "TIME"), pa.scalar(None, pa.time64("us")))
        nanos = parsed.cast(pa.time64("ns")).cast(pa.int64())
        bad = arr.filter(pc.and_(pc.is_valid(arr), pc.is_null(parsed)))
    else:
        raise TypeError(f"{arr.type} values are not clock times")
    day = 86_400 * 1_000_000_000
    out_of_day = pc.fill_null(pc.or_(pc.less(nanos, 0), pc.greater_equal(nanos, day)), False)
    if pc.any(out_of_day).as_py():
        bad = pa.concat_arrays([bad.cast(pa.string()), arr.filter(out_of_day).cast(pa.string())])
        nanos = pc.if_else(out_of_day, pa.scalar(None, pa.int64()), nanos)
    ints = nanos.to_numpy(zero_copy_only=False)
    offsets = np.full(len(arr), np.timedelta64("NaT"), dtype="timedelta64[ns]")
    valid = pc.is_valid(nanos).to_numpy(zero_copy_only=False)
    offsets[valid] = ints[valid].astype("int64").astype("timedelta64[ns]")
    return offsets, bad


def combine_date_and_clock(dates: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``date + time of day``; rows without a clock time keep the date alone (midnight)."""
    return dates + np.where(np.isnat(offsets), np.timedelta64(0, "ns"), offsets)


def own_row_times(
    table: pa.Table, column: str, time_of_day: str | None = None
) -> tuple[np.ndarray, pa.Array]:
    """Row times from a table's own time column (plus its clock-time column, if any).

    Returns ``(times datetime64[ns], bad)`` where ``bad`` lists non-null values that did not parse.
    """
    times, bad = parse_datetimes(table.column(column))
    if time_of_day is not None:
        offsets, bad_clock = parse_clock_times(table.column(time_of_day))
        times = combine_date_and_clock(times, offsets)
        if len(bad_clock):
            bad = pa.concat_arrays([bad.cast(pa.string()), bad_clock.cast(pa.string())])
    return times, bad


def is_whole_number(values: pa.Array | pa.ChunkedArray) -> bool:
    """Floats that are all whole numbers (integer keys that went through pandas with nulls)."""
    valid = values.drop_null()
    return bool(pc.all(pc.equal(pc.floor(valid), valid)).as_py()) if len(valid) else True


def comparable_keys(
    child: pa.Array | pa.ChunkedArray, parent: pa.Array | pa.ChunkedArray
) -> tuple[pa.Array, pa.Array]:
    """Key columns cast to one type so equal keys compare equal.

    Same type: unchanged. Integers and whole-number floats (``3.0``): int64. Other numbers:
    float64. Anything else (e.g. integer vs string): strings.
    """
    child, parent = _as_array(child), _as_array(parent)
    if child.type == parent.type:
        return child, parent
    numeric = [pa.types.is_integer(a.type) or pa.types.is_floating(a.type) for a in (child, parent)]
    if all(numeric):
        target = pa.int64() if is_whole_number(child) and is_whole_number(parent) else pa.float64()
        return child.cast(target), parent.cast(target)
    return child.cast(pa.string()), parent.cast(pa.string())


def lookup_parent_values(
    child_keys: pa.ChunkedArray, parent_keys: pa.ChunkedArray, parent_values: np.ndarray
) -> np.ndarray:
    """For each child key, ``parent_values`` at the parent row holding that key (NaT when null or dangling).

    Keys of different types are compared as :func:`comparable_keys` makes them.
    """
    child, parent = comparable_keys(child_keys, parent_keys)
    idx = pc.index_in(child, value_set=parent)
    found = pc.is_valid(idx).to_numpy(zero_copy_only=False)
    out = np.full(len(child), np.datetime64("NaT"), dtype="datetime64[ns]")
    out[found] = parent_values[idx.drop_null().to_numpy().astype(np.int64)]
    return out


def resolve_row_times(tables: dict[str, pa.Table], schema: Schema) -> dict[str, np.ndarray]:
    """Every timed table's row times, ``datetime64[ns]`` per row (NaT where unknown).

    Own times are parsed from the time column (plus clock-time column); inherited times are
    looked up through the foreign key ``inherited_via``, parent before child, so chains
    (a table inheriting from a table that inherits) resolve too. Static tables are absent.

    Raises:
        SchemaError: a time column holds values that do not parse, or inheritance forms a cycle.
    """
    out: dict[str, np.ndarray] = {}
    pending: dict[str, TableSchema] = {}
    for name, ts in schema.tables.items():
        if ts.time is None:
            continue
        if ts.time.inherited_via is None:
            times, bad = own_row_times(tables[name], ts.time.column, ts.time.time_of_day_column)
            if len(bad):
                column = (
                    ts.time.column
                    if ts.time.time_of_day_column is None
                    else f"{ts.time.column}/{ts.time.time_of_day_column}"
                )
                raise SchemaError(
                    f"{name}.{column}: {len(bad)} time values do not parse, e.g. {bad[0].as_py()!r}; "
                    "use ISO 8601 (2024-01-31 or 2024-01-31 12:00:00) or pick another time column in a schema file"
                )
            out[name] = times
        else:
            pending[name] = ts
    while pending:
        ready = [n for n, ts in pending.items() if ts.time is not None and ts.time.parent_table in out]
        if not ready:
            raise SchemaError(
                f"{next(iter(pending))}: inherited time never reaches a table with its own time column (cycle?)"
            )
        for name in ready:
            ts = pending.pop(name)
            assert ts.time is not None and ts.time.parent_table is not None
            fk = next(f for f in ts.foreign_keys if f.column == ts.time.inherited_via)
            out[name] = lookup_parent_values(
                tables[name].column(fk.column),
                tables[fk.references_table].column(fk.references_column),
                out[fk.references_table],
            )
    return out
