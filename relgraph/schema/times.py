"""Turning column values into row times, shared by schema inference and ``Database.row_times``.

All functions are vectorised (Arrow casts, DuckDB ``TRY_CAST`` for strings); none loops over rows.
Results are ``datetime64[ns]`` NumPy arrays with ``NaT`` for nulls, naive (timezone-aware
Arrow timestamps are converted to UTC first).

Numbers are Unix epoch times (``created_at BIGINT``): seconds, milliseconds or microseconds since
1970, the unit picked by magnitude. Only values from 1990-01-01 to 2100-01-01 are plausible; the
three units' ranges do not overlap, so the magnitude decides the unit. Inference takes a number
column as a time only when its name says so too (:func:`epoch_column_unit`): ids and counts are
numbers in the same range.

Dates not written as timestamps are times too (:func:`number_format`): integers (or digit
strings) ``YYYYMMDD`` (``20230102``) are dates at midnight; a bare year (``yearID = 2005``, a
season) is a period whose rows may come from any day of it, so it stands for the last second of
the year (2005-12-31 23:59:59): a row stamped earlier than its true time would show the future.
ISO strings with ``T``, ``Z`` or a UTC offset (``2013-01-01T05:00:00-05:00``) are converted to
UTC. A date split over ``year``/``month``/``day`` (/``hour``/``minute``) columns is combined by
:func:`parts_row_times` (a year and month alone: the last second of that month). Integers like
``517`` in a column named as a time are ``hhmm`` clock times (:func:`is_hhmm_clock`): a time of
day, never a row time.
"""

from __future__ import annotations

import re
import threading

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import SchemaError
from relgraph.schema.model import Schema, TableSchema, TimeInfo

_local = threading.local()
#: A clock time as text: ``6:00``, ``06:00:00``, ``06:00:00.5``.
CLOCK_PATTERN = r"^\s*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*$"
#: Plausible epoch times in seconds: 1990-01-01 (inclusive) to 2100-01-01 (exclusive).
EPOCH_MIN_SECONDS = 631_152_000
EPOCH_END_SECONDS = 4_102_444_800
#: Epoch units by ticks per second; each unit's plausible range lies far from the others'.
EPOCH_UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000}
EPOCH_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}
#: Integer dates ``YYYYMMDD`` from 1000-01-01 to 2999-12-31 (below every epoch range).
YYYYMMDD_RANGE = (10_000_101, 29_991_232)
#: Bare years (a season, ``yearID``): 1000 to 2999.
YEAR_RANGE = (1000, 3000)
#: Number formats a time can be written in, besides epoch units: whole years and ``YYYYMMDD`` dates.
DATE_NUMBER_FORMATS = ("year", "yyyymmdd")
#: Parts of a date split over columns, coarsest first, with their valid ranges.
DATE_PARTS = {"year": YEAR_RANGE, "month": (1, 13), "day": (1, 32), "hour": (0, 24), "minute": (0, 60)}
#: ``hhmm`` clock numbers must cover at least this many distinct hours (a few small counts do not).
HHMM_MIN_HOURS = 3
#: Names of durations, which are no clock times even when their numbers look like ``hhmm``.
DURATION_PATTERN = re.compile(r"spent|duration|elapsed|taken|total|length|air|travel|wait|play|run|response|lead")
#: An ISO string ending in a UTC offset or ``Z`` after its clock time (``...T05:00:00-05:00``).
OFFSET_PATTERN = r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)$"
#: How a time column must look, for error messages.
TIME_VALUE_HINT = (
    "use ISO 8601 (2024-01-31 or 2024-01-31 12:00:00) or integer seconds / milliseconds / microseconds "
    "since 1970 (between 1990 and 2100), YYYYMMDD dates (20240131) or years (2024)"
)
AUDIT_PATTERN = re.compile(
    r"updat|modif|^last|lastedit|lastactivity|lastaccess|deleted|changed", re.IGNORECASE
)
CREATION_PATTERN = re.compile(r"creat|insert|regist|signup|joined", re.IGNORECASE)
TIME_WORD_PATTERN = re.compile(r"date|time|stamp|(_at|[a-z]At)$|^ts$")


def norm(name: str) -> str:
    """Lower-case name without separators: ``driver_Id`` and ``driverId`` both give ``driverid``."""
    return re.sub(r"[\W_]", "", name.casefold())


def time_name_score(column: str) -> int:
    """Preference of a column name as row time: creation 4, plain date/time 3, telling name 2, other 1, audit 0."""
    n = norm(column)
    if AUDIT_PATTERN.search(column):
        return 0
    if CREATION_PATTERN.search(column):
        return 4
    if n in {"date", "time", "timestamp", "datetime", "ts", "eventtime", "eventdate"}:
        return 3
    if TIME_WORD_PATTERN.search(column) or TIME_WORD_PATTERN.search(n):
        return 2
    return 1


def _duckdb() -> duckdb.DuckDBPyConnection:
    """One private in-memory DuckDB connection per thread, used only to parse strings."""
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(":memory:")
        con.execute("SET TimeZone = 'UTC'")  # offsets convert to UTC, the naive times relgraph stores
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


def is_number_type(dtype: pa.DataType) -> bool:
    """Integers and floats (not booleans or decimals): the types an epoch time can have."""
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype)


def _epoch_bounds(unit: str) -> tuple[int, int]:
    per_second = EPOCH_UNITS[unit]
    return EPOCH_MIN_SECONDS * per_second, EPOCH_END_SECONDS * per_second


def _number_values(arr: pa.Array) -> np.ndarray:
    """Numbers as float64 (null -> NaN): exact enough for range tests."""
    return arr.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _yyyymmdd_dates(x: np.ndarray) -> np.ndarray:
    """``YYYYMMDD`` numbers as ``datetime64[D]``; NaT where the number is no calendar date (20230231)."""
    out = np.full(len(x), np.datetime64("NaT"), dtype="datetime64[D]")
    inside = (x >= YYYYMMDD_RANGE[0]) & (x < YYYYMMDD_RANGE[1]) & (np.floor(x) == x)
    v = np.where(inside, x, 0).astype(np.int64)
    year, month, day = v // 10_000, v // 100 % 100, v % 100
    inside &= (month >= 1) & (month <= 12) & (day >= 1)
    months = (year - 1970) * 12 + (month - 1)
    first = months.astype("datetime64[M]").astype("datetime64[D]")
    days = first + (day - 1).astype("timedelta64[D]")
    # A day past the month's end rolls into the next month: not a date.
    valid = inside & (days.astype("datetime64[M]") == months.astype("datetime64[M]"))
    out[valid] = days[valid]
    return out


def _end_of_year(years: np.ndarray) -> np.ndarray:
    """Last second of each year, ``datetime64[ns]``: a year-granular row is known only once its year is over."""
    starts = (years.astype(np.int64) - 1970 + 1).astype("datetime64[Y]").astype("datetime64[ns]")
    return starts - np.timedelta64(1, "s")


def _inside_by_format(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per number format, which values it reads as a plausible time."""
    inside = {}
    for unit in EPOCH_UNITS:
        start, end = _epoch_bounds(unit)
        inside[unit] = (x >= start) & (x < end)
    inside["yyyymmdd"] = ~np.isnat(_yyyymmdd_dates(x))
    inside["year"] = (x >= YEAR_RANGE[0]) & (x < YEAR_RANGE[1]) & (np.floor(x) == x)
    return inside


def number_format(values: pa.Array | pa.ChunkedArray) -> str | None:
    """The format (``"year"``, ``"yyyymmdd"``, or epoch unit ``"s"``/``"ms"``/``"us"``) that reads
    every non-null number as a plausible time; None for other types, all-null columns and values
    no single format holds. The formats' ranges do not overlap, so the magnitude decides.
    """
    arr = _as_array(values)
    if not is_number_type(arr.type) or arr.null_count == len(arr):
        return None
    x = _number_values(arr.drop_null())
    for fmt, inside in _inside_by_format(x).items():
        if inside.all():
            return fmt
    return None


def epoch_unit(values: pa.Array | pa.ChunkedArray) -> str | None:
    """The epoch unit (``"s"``, ``"ms"``, ``"us"``) whose plausible range holds every non-null value.

    None for non-number types, all-null columns and values outside every range (or spread over two).
    """
    fmt = number_format(values)
    return fmt if fmt in EPOCH_UNITS else None


def _named_as_time(column: str) -> bool:
    """A name that says "time" (:func:`time_name_score` other than 1) and is no id or key."""
    return time_name_score(column) != 1 and not norm(column).endswith(("id", "key"))


def epoch_column_unit(column: str, values: pa.Array | pa.ChunkedArray) -> str | None:
    """The epoch unit of a column that is a time by name and by values, else None.

    The name must look like a time (:func:`time_name_score` other than 1, and not ending in
    ``id``/``key``); the values must be integers or whole-number floats all in one unit's
    plausible range. Without the name test, ids and counts in that range would be misread.
    """
    fmt = number_time_format(column, values)
    return fmt if fmt in EPOCH_UNITS else None


def number_time_format(column: str, values: pa.Array | pa.ChunkedArray) -> str | None:
    """Epoch unit or ``"yyyymmdd"`` of a number column that is a time by name and by values, else None.

    Bare years are left out: a year is a row time only in context (see ``schema.infer``).
    """
    if not _named_as_time(column):
        return None
    arr = _as_array(values)
    if not is_number_type(arr.type) or (pa.types.is_floating(arr.type) and not is_whole_number(arr)):
        return None
    fmt = number_format(arr)
    return fmt if fmt != "year" else None


def yyyymmdd_strings(column: str, values: pa.Array | pa.ChunkedArray) -> bool:
    """Strings of eight digits that are all calendar dates (``"20230102"``), in a column named as a time."""
    arr = _as_array(values)
    if not is_stringlike(arr.type) or not _named_as_time(column) or arr.null_count == len(arr):
        return False
    valid = arr.drop_null()
    if not pc.all(pc.match_substring_regex(valid, r"^\d{8}$")).as_py():
        return False
    return bool((~np.isnat(_yyyymmdd_dates(_number_values(valid.cast(pa.int64()))))).all())


def epoch_evidence(unit: str) -> str:
    """``"integer seconds since 1970 (epoch)"`` for ``unit="s"`` (also ``"yyyymmdd"`` and ``"year"``)."""
    if unit == "yyyymmdd":
        return "integer dates written YYYYMMDD (20230102)"
    if unit == "year":
        return "a year number: a row counts from the end of its year (2005 -> 2005-12-31 23:59:59)"
    return f"integer {EPOCH_UNIT_NAMES[unit]} since 1970 (epoch)"


def _parse_numbers(arr: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Numbers as times, in the format holding most values; values outside its range are bad."""
    x = _number_values(arr)
    inside_by_format = _inside_by_format(x)
    fmt = max(inside_by_format, key=lambda f: int(inside_by_format[f].sum()))
    inside = inside_by_format[fmt]
    times = np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[ns]")
    if fmt == "year":
        times[inside] = _end_of_year(x[inside])
    elif fmt == "yyyymmdd":
        times[inside] = _yyyymmdd_dates(x[inside]).astype("datetime64[ns]")
    else:
        nanos_per_tick = 1_000_000_000 // EPOCH_UNITS[fmt]
        if pa.types.is_integer(arr.type):
            # Integer arithmetic: microseconds * 1000 exceeds float64's exact integers.
            ticks = pc.cast(arr.fill_null(0), pa.int64(), safe=False).to_numpy(zero_copy_only=False)
            times[inside] = (ticks[inside] * nanos_per_tick).astype("datetime64[ns]")
        else:
            times[inside] = np.round(x[inside] * nanos_per_tick).astype(np.int64).astype("datetime64[ns]")
    bad = arr.filter(pa.array(~inside & ~np.isnan(x)))
    return times, bad


def _try_cast_strings(values: pa.Array, sql_type: str) -> pa.Array:
    """DuckDB ``TRY_CAST`` of a string array (null where a value does not parse)."""
    relation = _duckdb().from_arrow(pa.table({"v": values.cast(pa.string())}))
    return relation.project(f"TRY_CAST(v AS {sql_type}) AS t").to_arrow_table().column("t").combine_chunks()


def _parse_timestamp_strings(values: pa.Array) -> pa.Array:
    """ISO strings as naive UTC timestamps (null where one does not parse).

    A plain ``TIMESTAMP`` cast would drop a UTC offset (``05:00-05:00`` read as 05:00): strings
    with an offset or ``Z`` go through ``TIMESTAMPTZ`` in a UTC session. Eight-digit strings are
    ``YYYYMMDD`` dates.
    """
    con = _duckdb()
    relation = con.from_arrow(pa.table({"v": values.cast(pa.string())}))
    sql = (
        f"CASE WHEN regexp_matches(v, '{OFFSET_PATTERN}') THEN CAST(TRY_CAST(v AS TIMESTAMPTZ) AS TIMESTAMP) "
        "WHEN regexp_full_match(v, '\\d{8}') THEN TRY_STRPTIME(v, '%Y%m%d') "
        "ELSE TRY_CAST(v AS TIMESTAMP) END AS t"
    )
    return relation.project(sql).to_arrow_table().column("t").combine_chunks()


def parse_datetimes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Parse values into row times.

    Args:
        values: date, timestamp or string values (ISO 8601 strings, date-only or with a time,
            offsets converted to UTC; ``YYYYMMDD`` strings), or numbers: epoch seconds /
            milliseconds / microseconds, ``YYYYMMDD`` dates or years (format by magnitude).
    Returns:
        ``(times, bad)``: ``times`` is ``datetime64[ns]`` of the same length (NaT for null or
        unparsable); ``bad`` holds the non-null input values that did not parse (empty if all did);
        for numbers, those outside the plausible range of the unit most values have.
    Raises:
        TypeError: for types that cannot hold a time (booleans, decimals, ...).
    """
    arr = _as_array(values)
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is not None:
            arr = arr.cast(pa.timestamp(arr.type.unit))  # Arrow stores UTC: dropping tz keeps UTC instants
        return arr.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False), pa.array([], arr.type)
    if pa.types.is_date(arr.type):
        return arr.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False), pa.array([], arr.type)
    if is_stringlike(arr.type):
        parsed = _parse_timestamp_strings(arr)
        bad = arr.filter(pc.and_(pc.is_valid(arr), pc.is_null(parsed)))
        return parsed.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False), bad
    if is_number_type(arr.type):
        return _parse_numbers(arr)
    if pa.types.is_null(arr.type):
        return np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[ns]"), pa.array([], pa.string())
    raise TypeError(f"{arr.type} values cannot be row times")


def bad_times_message(where: str, values: pa.Array | pa.ChunkedArray, bad: pa.Array) -> str:
    """One line saying that ``where`` (``table.column``) holds ``bad``, values that are no times, and the fix."""
    example = bad[0].as_py() if len(bad) else "?"
    if is_number_type(values.type):
        what = (
            f"{len(bad)} {values.type} values are not Unix epoch times (seconds, milliseconds or "
            "microseconds between 1990 and 2100)"
        )
    else:
        what = f"{len(bad)} time values do not parse"
    return (
        f"{where}: {what}, e.g. {example!r}; {TIME_VALUE_HINT}, or name another time column in a schema file"
    )


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


def is_hhmm_clock(column: str, values: pa.Array | pa.ChunkedArray) -> bool:
    """Integers written ``hhmm`` (``517`` = 05:17, ``2400`` = midnight) in a column named as a time.

    Every value must be 0..2400 with minutes below 60, some below 1000 (a column of years
    1000..2359 is no clock), spread over at least ``HHMM_MIN_HOURS`` hours; the name must contain
    ``time`` (``dep_time``) or ``hhmm`` and name no duration (``time_spent``, ``air_time``).
    """
    arr = _as_array(values)
    n = norm(column)
    if not ("time" in n or "hhmm" in n) or DURATION_PATTERN.search(n):
        return False
    if not pa.types.is_integer(arr.type) or arr.null_count == len(arr):
        return False
    x = arr.drop_null().to_numpy()
    if not (((x >= 0) & (x <= 2400) & (x % 100 < 60)).all() and (x < 1000).any()):
        return False
    return len(np.unique(x // 100)) >= HHMM_MIN_HOURS


def hhmm_evidence(values: pa.Array | pa.ChunkedArray) -> str:
    """``"hhmm clock times (517 = 05:17): ..."`` with the column's first value as the example."""
    first = int(_as_array(values).drop_null()[0].as_py())
    return (
        f"hhmm clock times ({first} = {first // 100:02d}:{first % 100:02d}): a time of day without a date, "
        "a feature, never a row time"
    )


def parts_row_times(table: pa.Table, year: str, parts: dict[str, str]) -> tuple[np.ndarray, pa.Array]:
    """Row times from a date split over columns: ``year`` plus ``parts`` (``month``/``day``/``hour``/``minute`` -> column).

    A year alone, or a year and month, is a period: its rows count from the period's last second.
    Returns ``(times datetime64[ns], bad)``; ``bad`` lists rows (as ``"year-month-day ..."`` text)
    whose parts are out of range or no calendar date.
    """
    columns = {"year": year, **parts}
    values = {
        unit: _number_values(_as_array(table.column(col)).cast(pa.float64()))
        for unit, col in columns.items()
    }
    n = table.num_rows
    known = np.ones(n, dtype=bool)
    valid = np.ones(n, dtype=bool)
    for unit, x in values.items():
        low, high = DATE_PARTS[unit]
        present = ~np.isnan(x)
        known &= present
        valid &= ~present | ((x >= low) & (x < high) & (np.floor(x) == x))
    ints = {u: np.where(known & valid, x, DATE_PARTS[u][0]).astype(np.int64) for u, x in values.items()}
    months = (ints["year"] - 1970) * 12 + ints.get("month", np.full(n, 1)) - 1
    if "day" in ints:
        days = months.astype("datetime64[M]").astype("datetime64[D]") + (ints["day"] - 1).astype("timedelta64[D]")
        valid &= ~known | (days.astype("datetime64[M]") == months.astype("datetime64[M]"))
        times = days.astype("datetime64[ns]")
        times = times + ints.get("hour", np.zeros(n, np.int64)).astype("timedelta64[h]")
        times = times + ints.get("minute", np.zeros(n, np.int64)).astype("timedelta64[m]")
    elif "month" in ints:
        times = (months + 1).astype("datetime64[M]").astype("datetime64[ns]") - np.timedelta64(1, "s")
    else:
        times = _end_of_year(ints["year"])
    out = np.where(known & valid, times, np.datetime64("NaT"))
    rows = np.flatnonzero(known & ~valid)
    bad = pa.array(
        ["-".join(str(int(values[u][i])) for u in columns) for i in rows[:5]], pa.string()
    ) if len(rows) else pa.array([], pa.string())
    return out.astype("datetime64[ns]"), bad


def own_row_times(table: pa.Table, info: TimeInfo) -> tuple[np.ndarray, pa.Array]:
    """Row times from a table's own time column (plus its clock-time or date-part columns, if any).

    Returns ``(times datetime64[ns], bad)`` where ``bad`` lists non-null values that did not parse.
    A time left unknown gives NaT for every row.
    """
    if info.unknown:
        return np.full(table.num_rows, np.datetime64("NaT"), dtype="datetime64[ns]"), pa.array([], pa.string())
    if info.parts:
        return parts_row_times(table, info.column, info.parts)
    column, time_of_day = info.column, info.time_of_day_column
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


def time_columns(info: TimeInfo) -> list[str]:
    """The table's own columns a time is read from: the time column, its clock or date-part columns."""
    if info.unknown or info.inherited_via is not None:
        return []
    extra = [info.time_of_day_column] if info.time_of_day_column else []
    return [info.column, *extra, *info.parts.values()]


def resolve_row_times(tables: dict[str, pa.Table], schema: Schema) -> dict[str, np.ndarray]:
    """Every timed table's row times, ``datetime64[ns]`` per row (NaT where unknown).

    Own times are parsed from the time column (plus clock-time or date-part columns); a time left
    unknown (an event table without a trusted time) is NaT in every row; inherited times are
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
            times, bad = own_row_times(tables[name], ts.time)
            if len(bad):
                column = "/".join(time_columns(ts.time))
                raise SchemaError(
                    bad_times_message(f"{name}.{column}", tables[name].column(ts.time.column), bad)
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


def to_seconds(values: object) -> np.ndarray:
    """Timestamps (any pandas-parsable form; aware ones converted to UTC) -> int64 seconds since epoch."""
    stamps = pd.to_datetime(pd.Series(values))
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[s]").astype(np.int64)
