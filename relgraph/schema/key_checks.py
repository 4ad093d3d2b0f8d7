"""Tests on a column's values and name that primary, foreign and composite key inference share.

Uniqueness, value families, containment of one column's values in a key (vectorised in Arrow:
hash lookups over whole columns, never Python sets over rows) and the name stems of tables. The
rules that use them are in :mod:`relgraph.schema.keys`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.schema.model import RejectedKey
from relgraph.schema.stypes import distinct_count
from relgraph.schema.times import comparable_keys, is_stringlike, is_whole_number, norm

#: Turned-down candidates with less coverage than this are not worth showing.
REPORT_COVERAGE = 0.5
#: Uniqueness is first checked on this many rows: most non-key columns repeat a value early.
UNIQUE_PROBE_ROWS = 10_000


def table_stems(table: str) -> set[str]:
    """Normalised plural and singular forms of a table name (``races`` -> {races, race})."""
    n = norm(table)
    stems = {n}
    if n.endswith("ies") and len(n) > 4:
        stems.add(n[:-3] + "y")
    elif n.endswith(("ses", "xes", "ches", "shes")):
        stems.add(n[:-2])
    if n.endswith("s") and not n.endswith("ss") and len(n) > 2:
        stems.add(n[:-1])
    return stems


def id_prefix(name: str) -> str | None:
    """``raceId`` -> ``race``; None when the name does not end with ``id``."""
    n = norm(name)
    return n[:-2] if n.endswith("id") and len(n) > 2 else None


def name_tokens(name: str) -> list[str]:
    """``ship_via`` -> [ship, via]; ``shipVia`` -> [ship, via]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t.lower() for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]


def shares_stem(column: str, table: str) -> bool:
    """A word of the column name (4+ letters) and the table name start alike (``ship_via``, ``shippers``)."""
    stems = table_stems(table)
    return any(
        len(token) >= 4 and any(s.startswith(token) or token.startswith(s) for s in stems)
        for token in name_tokens(column)
    )


def is_key_type(dtype: pa.DataType) -> bool:
    """Types a key can have: integers and strings (floats only as references, see ``is_reference_type``)."""
    return pa.types.is_integer(dtype) or is_stringlike(dtype)


def is_reference_type(values: pa.ChunkedArray) -> bool:
    """Foreign-key values: key types, or whole-number floats (integer ids with nulls after pandas)."""
    if pa.types.is_floating(values.type):
        return is_whole_number(values)
    return is_key_type(values.type)


def value_family(values: pa.ChunkedArray) -> str:
    """``"int"`` (integers, whole-number floats) or ``"str"``: references by value need the same family."""
    return "str" if is_stringlike(values.type) else "int"


def is_unique(values: pa.ChunkedArray | pa.Array) -> bool:
    """No value twice, and no null (a key has none). Integers spanning at most 4x their count use a
    counting pass (no hashing)."""
    if values.null_count:
        return False
    if pa.types.is_integer(values.type) and len(values):
        bounds = pc.min_max(values)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is not None and high - low < 4 * len(values):
            offsets = pc.subtract(values, low).to_numpy().astype(np.int64)
            return int(np.bincount(offsets).max()) <= 1
    return distinct_count(values) == len(values)


def describe_first(values: pa.Array) -> str:
    return repr(values[0].as_py()) if len(values) else "?"


def columns_text(columns: Sequence[str]) -> str:
    return f"({', '.join(columns)})"


def tuple_codes(
    child_columns: Sequence[pa.ChunkedArray | pa.Array], parent_columns: Sequence[pa.ChunkedArray | pa.Array]
) -> tuple[pa.Array, pa.Array]:
    """Rows of a child and a parent as int64 codes of their value tuples (composite keys).

    Equal codes mean equal tuples. A child code is null where a value is null or absent from the
    parent's column; parent codes are never null when the parent columns have no nulls. Works on
    the raw values of any type (ISO strings, timestamps, integers) column by column.
    """
    child_code: pa.Array | None = None
    parent_code: pa.Array | None = None
    for child, parent in zip(child_columns, parent_columns):
        child, parent = comparable_keys(child, parent)
        dictionary = pc.unique(parent.drop_null())
        child_part = pc.cast(pc.index_in(child, value_set=dictionary), pa.int64())
        parent_part = pc.cast(pc.index_in(parent, value_set=dictionary), pa.int64())
        size = pa.scalar(max(len(dictionary), 1), pa.int64())
        if child_code is None or parent_code is None:
            child_code, parent_code = child_part, parent_part
        else:
            child_code = pc.add(pc.multiply(child_code, size), child_part)
            parent_code = pc.add(pc.multiply(parent_code, size), parent_part)
    assert child_code is not None and parent_code is not None
    return child_code, parent_code


def row_codes(columns: Sequence[pa.ChunkedArray | pa.Array]) -> pa.Array:
    """One table's rows as int64 codes of their value tuples (equal codes, equal tuples)."""
    code: pa.Array | None = None
    for column in columns:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        encoded = pc.dictionary_encode(column)
        part = pc.cast(encoded.indices, pa.int64())
        size = pa.scalar(max(len(encoded.dictionary), 1), pa.int64())
        code = part if code is None else pc.add(pc.multiply(code, size), part)
    assert code is not None
    return code


def is_unique_tuple(columns: Sequence[pa.ChunkedArray]) -> bool:
    """No value tuple twice; most non-key tuples repeat within the first rows, checked first."""
    if len(columns[0]) > UNIQUE_PROBE_ROWS and not is_unique(
        row_codes([c.slice(0, UNIQUE_PROBE_ROWS) for c in columns])
    ):
        return False
    return is_unique(row_codes(columns))


def all_valid(columns: Sequence[pa.ChunkedArray]) -> np.ndarray:
    """Rows where none of ``columns`` is null."""
    valid = np.ones(len(columns[0]), dtype=bool)
    for column in columns:
        if column.null_count:
            valid &= np.asarray(column.is_valid())
    return valid


def tuple_containment(
    child_columns: list[pa.ChunkedArray], parent_columns: list[pa.ChunkedArray]
) -> tuple[float, int]:
    """(share of child rows without nulls whose tuple is in the parent, count of those not found)."""
    valid = all_valid(child_columns)
    total = int(valid.sum())
    if total == 0:
        return 1.0, 0
    child_code, parent_code = tuple_codes(child_columns, parent_columns)
    found = int(pc.sum(pc.is_in(child_code, value_set=parent_code)).as_py() or 0)
    return found / total, total - found


@dataclass
class DistinctValues:
    """A column's distinct non-null values and how often each occurs: every containment check
    against a candidate key looks up the distinct values only (hashing the column once)."""

    values: pa.Array
    counts: np.ndarray

    @classmethod
    def of(cls, column: pa.ChunkedArray) -> DistinctValues:
        counted = pc.value_counts(column.drop_null())
        return cls(counted.field("values"), counted.field("counts").to_numpy().astype(np.int64))


class Candidate:
    """A column considered as a reference; its distinct values are counted once, when first needed."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        self.column = column
        self._distinct: DistinctValues | None = None

    @property
    def distinct(self) -> DistinctValues:
        if self._distinct is None:
            self._distinct = DistinctValues.of(self.column)
        return self._distinct


def dense_range(parent_values: pa.ChunkedArray | pa.Array) -> tuple[int, int] | None:
    """``(lo, hi)`` when a unique integer key holds exactly the whole range ``lo..hi`` (most ids):
    containment in it is then a bounds test, with no hash table of the (possibly large) key."""
    if not pa.types.is_integer(parent_values.type) or len(parent_values) == 0 or parent_values.null_count:
        return None
    bounds = pc.min_max(parent_values)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return (low, high) if high - low + 1 == len(parent_values) else None


def too_low(
    rejected: list[RejectedKey],
    table: str,
    columns: list[str],
    target: str,
    coverage: float,
    minimum: float,
    why: str = "",
    report_from: float = REPORT_COVERAGE,
) -> bool:
    """Whether ``coverage`` is below ``minimum``; if so, a candidate covering at least
    ``report_from`` is recorded in ``rejected`` (``inspect --verbose``)."""
    if coverage >= minimum:
        return False
    if coverage >= report_from:
        rejected.append(RejectedKey(table, columns, target, coverage, f"{why}coverage is below {minimum:.0%}"))
    return True


def containment(child: pa.ChunkedArray | Candidate, parent: pa.ChunkedArray) -> tuple[float, int]:
    """(share of the child's non-null values found in ``parent``, count of those not found).

    ``parent`` is a unique key. Numbers into a whole id range are compared with its bounds over
    the column; anything else looks up the column's distinct values (counted once per column).
    """
    candidate = child if isinstance(child, Candidate) else Candidate(child)
    column = candidate.column
    total = len(column) - column.null_count
    if total == 0:
        return 1.0, 0
    if not (is_reference_type(column) and is_key_type(parent.type)):
        return 0.0, total
    dense = dense_range(parent) if value_family(column) == "int" else None
    if dense is not None:
        values = column.drop_null().to_numpy()
        found = int(np.count_nonzero((values >= dense[0]) & (values <= dense[1])))
    else:
        distinct = candidate.distinct
        values_, parent_values = comparable_keys(distinct.values, parent.drop_null())
        found_mask = pc.is_in(values_, value_set=parent_values).to_numpy(zero_copy_only=False)
        found = int(distinct.counts[found_mask].sum())
    return found / total, total - found
