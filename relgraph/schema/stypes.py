"""Semantic-type rules: how a non-key column is used as a feature.

Rules, applied in order (keys are decided by the caller: primary and foreign keys are ``key``):

1. all null, or a single distinct value -> ``ignored`` (carries no information);
2. date / timestamp types -> ``timestamp``; time-of-day and duration types -> ``ignored``
   (a clock value without a date; a companion clock column is folded into the row time);
   integers and whole-number floats named as times whose values are all Unix epoch times
   (``created_at`` in seconds since 1970; see ``times.epoch_column_unit``) or ``YYYYMMDD`` dates,
   and eight-digit date strings so named -> ``timestamp``; integers ``hhmm`` in a column named
   as a time (``dep_time = 517``, 05:17) -> ``numerical`` (a time of day, never a row time);
3. booleans -> ``categorical``;
4. floats and decimals -> ``numerical``;
5. integers -> ``categorical`` when they take at most ``MAX_CATEGORICAL_INTS`` distinct values,
   else ``numerical``;
6. strings:
   - all ISO-8601 dates -> ``timestamp``;
   - every value distinct and without whitespace (slugs, URLs, codes), or every value a UUID
     -> ``ignored`` (id-like);
   - most values are delimited lists (``<a><b>``, ``a|b``) -> ``multicategorical``;
   - at most ``MAX_CATEGORICAL_SHARE`` of the values distinct (or at most
     ``MAX_CATEGORICAL_STRINGS`` distinct values) and short -> ``categorical``;
   - otherwise -> ``text``;
7. anything else (lists, structs, binary) -> ``ignored``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from relgraph.schema.model import SType
from relgraph.schema.times import (
    epoch_evidence,
    hhmm_evidence,
    is_clock_type,
    is_datetime_type,
    is_hhmm_clock,
    is_stringlike,
    number_time_format,
    parse_datetimes,
    yyyymmdd_strings,
)

MAX_CATEGORICAL_INTS = 20
MAX_CATEGORICAL_STRINGS = 50
MAX_CATEGORICAL_SHARE = 0.2
MAX_CATEGORICAL_LENGTH = 40  # mean characters; longer strings are prose
MULTI_SHARE = 0.5  # share of values that must look like a delimited list
#: ``<a><b>`` (Stack Exchange tags) or at least two ``|``/``;``-separated items.
MULTI_PATTERN = r"^(<[^<>]+>)+$|^[^|;]+([|;][^|;]+)+$"
ISO_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}"
UUID_PATTERN = r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$"
#: Types whose min == max test says "constant"; with strings and decimals, the types a feature can have.
ORDERED_TYPES = (
    pa.types.is_boolean,
    pa.types.is_integer,
    pa.types.is_floating,
    is_datetime_type,
    is_clock_type,
)
FEATURE_TYPES = (*ORDERED_TYPES, pa.types.is_decimal, is_stringlike)
SAMPLE_SIZE = 10_000  # values looked at for whitespace, list shape and length


def distinct_count(values: pa.Array | pa.ChunkedArray) -> int:
    """Distinct non-null values; 0 for an empty column of any type (even Arrow's null type).

    ``pc.unique`` is several times faster than ``pc.count_distinct`` on high-cardinality
    columns (2M unique ints: 0.7 s vs 4 s, measured on the shared 2-core machine).
    """
    if len(values) == 0 or values.null_count == len(values):
        return 0
    return len(pc.unique(values)) - (1 if values.null_count else 0)


def _is_constant(arr: pa.Array) -> bool:
    """One distinct non-null value: min == max for ordered types, a hash pass for the rest."""
    dtype = arr.type
    if any(check(dtype) for check in ORDERED_TYPES):
        bounds = pc.min_max(arr)
        return bounds["min"] == bounds["max"]
    return distinct_count(arr) == 1


def infer_stype(values: pa.ChunkedArray | pa.Array, name: str = "") -> tuple[SType, str]:
    """Semantic type of a non-key column and a short reason (see the module rules).

    Args:
        values: the column's values.
        name: the column's name; only epoch times need it (no name: numbers stay numbers).
    """
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    non_null = len(arr) - arr.null_count
    if non_null == 0:
        return SType.IGNORED, "all values are null"
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    dtype = arr.type
    if not any(check(dtype) for check in FEATURE_TYPES):
        return SType.IGNORED, f"{dtype} is not supported as a feature"
    if _is_constant(arr):
        return SType.IGNORED, "a single distinct value"
    if is_datetime_type(dtype):
        return SType.TIMESTAMP, f"{dtype} values"
    if is_clock_type(dtype):
        return SType.IGNORED, f"{dtype}: a clock value without a date"
    unit = number_time_format(name, arr) if name else None
    if unit is not None:
        return SType.TIMESTAMP, epoch_evidence(unit)
    if name and is_hhmm_clock(name, arr):
        return SType.NUMERICAL, hhmm_evidence(arr)
    if name and yyyymmdd_strings(name, arr):
        return SType.TIMESTAMP, "date strings written YYYYMMDD (20230102)"
    if pa.types.is_boolean(dtype):
        return SType.CATEGORICAL, "boolean"
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return SType.NUMERICAL, f"{dtype} values"
    if pa.types.is_integer(dtype):
        # Many distinct values in the first rows already rule "categorical" out: skip the full pass.
        if distinct_count(arr.slice(0, SAMPLE_SIZE)) > MAX_CATEGORICAL_INTS:
            return SType.NUMERICAL, f"integer with more than {MAX_CATEGORICAL_INTS} distinct values"
        distinct = distinct_count(arr)
        if distinct <= MAX_CATEGORICAL_INTS:
            return SType.CATEGORICAL, f"integer with {distinct} distinct values (<= {MAX_CATEGORICAL_INTS})"
        return SType.NUMERICAL, f"integer with {distinct} distinct values"
    return _string_stype(arr, non_null, distinct_count(arr))


def _string_stype(arr: pa.Array, non_null: int, distinct: int) -> tuple[SType, str]:
    valid = arr.drop_null().cast(pa.string())
    # Shape checks look at an evenly spaced sample; only the date rule then checks every value.
    step = max(1, len(valid) // SAMPLE_SIZE)
    sample = valid.take(pa.array(range(0, len(valid), step)))
    if pc.all(pc.match_substring_regex(sample, ISO_DATE_PATTERN)).as_py():
        if pc.all(pc.match_substring_regex(valid, ISO_DATE_PATTERN)).as_py() and not len(
            parse_datetimes(valid)[1]
        ):
            return SType.TIMESTAMP, "ISO-8601 date strings"
    if distinct == non_null and non_null > 1 and not pc.any(pc.match_substring_regex(sample, r"\s")).as_py():
        return SType.IGNORED, "every value distinct, no whitespace: an identifier"
    if pc.all(pc.match_substring_regex(sample, UUID_PATTERN)).as_py():
        return SType.IGNORED, "UUID values: an identifier"
    multi_share = pc.mean(pc.match_substring_regex(sample, MULTI_PATTERN).cast(pa.float64())).as_py()
    if multi_share >= MULTI_SHARE:
        return SType.MULTICATEGORICAL, f"{multi_share:.0%} of values are delimited lists"
    mean_length = pc.mean(pc.utf8_length(sample)).as_py()
    if mean_length <= MAX_CATEGORICAL_LENGTH and (
        distinct <= MAX_CATEGORICAL_STRINGS or distinct <= MAX_CATEGORICAL_SHARE * non_null
    ):
        return SType.CATEGORICAL, f"{distinct} distinct strings"
    return SType.TEXT, f"{distinct} distinct strings, mean length {mean_length:.0f}"
