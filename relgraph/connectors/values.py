"""Cell values that mean "missing" in text exports: null tokens and sentinel strings in number columns.

``NA`` (R), ``\\N`` (MySQL), ``NULL``, ``N/A`` and empty cells are nulls in every CSV column
(``MISSING_TOKENS``). A column of numbers with a few placeholder strings (``-``, ``n/a``, ``?``,
``unknown``) is a number column with missing values, not a category
(:func:`numbers_with_sentinels`).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

#: CSV cells read as null: MySQL ``\N``, R ``NA``, SQL ``NULL``, spreadsheet ``#N/A``, empty fields.
MISSING_TOKENS = ["\\N", "", "NA", "N/A", "NULL", "null", "#N/A"]
#: Placeholders for "no value" among numbers: short punctuation (``-``, ``?``, ``--``, ``.``) or words.
SENTINEL_PATTERN = r"^\s*([-?.*/_]{1,3}|n/?a|none|nil|null|nan|missing|unknown|unk|#n/a)\s*$"
#: At most this many distinct placeholder strings: more are data, not placeholders.
MAX_SENTINELS = 3


def numbers_with_sentinels(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A string column of numbers and a few placeholders as int64 / float64 with nulls; else unchanged.

    Every non-placeholder value must be a number, at least one value must be a number, and the
    placeholders (``SENTINEL_PATTERN``, case-insensitive) must take at most ``MAX_SENTINELS``
    distinct values.
    """
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    valid = column.drop_null()
    if len(valid) == 0:
        return column
    sentinel = pc.match_substring_regex(valid, SENTINEL_PATTERN, ignore_case=True)
    count = pc.sum(sentinel).as_py() or 0
    if count == 0 or count == len(valid) or len(pc.unique(valid.filter(sentinel))) > MAX_SENTINELS:
        return column
    numbers = valid.filter(pc.invert(sentinel))
    for target in (pa.int64(), pa.float64()):
        try:
            pc.cast(numbers, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        placeholder = pc.fill_null(pc.match_substring_regex(column, SENTINEL_PATTERN, ignore_case=True), False)
        return pc.cast(pc.if_else(placeholder, pa.scalar(None, column.type), column), target)
    return column


def with_sentinels_as_nulls(table: pa.Table) -> pa.Table:
    """``table`` with each string column of numbers-and-placeholders read as numbers (see :func:`numbers_with_sentinels`)."""
    columns = [numbers_with_sentinels(c) for c in table.columns]
    if all(new is old for new, old in zip(columns, table.columns)):
        return table
    return pa.table(columns, names=table.column_names)
