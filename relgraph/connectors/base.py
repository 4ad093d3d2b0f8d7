"""What every connector returns: Arrow tables plus whatever keys the source declares."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class CompositeKeys:
    """Multi-column keys a source declares.

    Kept apart from the single-column keys: the schema layer turns them into composite keys and
    composite references (``TableSchema.composite_key`` / ``composite_foreign_keys``).
    """

    primary_keys: dict[str, list[str]] = field(default_factory=dict)  # table -> columns
    # table -> [(columns, referenced table, referenced columns)]
    foreign_keys: dict[str, list[tuple[list[str], str, list[str]]]] = field(default_factory=dict)


@dataclass
class DeclaredKeys:
    """Keys and times a source states itself (catalog constraints, RelBench metadata)."""

    primary_keys: dict[str, str] = field(default_factory=dict)  # table -> column
    # table -> [(column, referenced table, referenced column)]
    foreign_keys: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    time_columns: dict[str, str] = field(default_factory=dict)  # table -> column
    composite: CompositeKeys = field(default_factory=CompositeKeys)  # multi-column keys
    # table -> {column: why}: columns the source knows hold values as of the export, not of the
    # row's time (a post's score to date); as features they would reveal the future.
    snapshot_columns: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class FileParts:
    """One table read from several files: ``column`` holds each row's part (the file name's
    suffix, ``values[i]`` for ``files[i]``)."""

    column: str
    files: list[str]
    values: list[str]


@dataclass
class SourceData:
    """A source read into memory, column-wise.

    ``source`` is the user's locator with any password removed; ``fingerprint`` is a hash
    of the content (or of file sizes and modification times where hashing is too slow) that
    changes whenever the data does, used as a cache key.
    """

    source: str
    tables: dict[str, pa.Table]
    declared: DeclaredKeys
    fingerprint: str
    parts: dict[str, FileParts] = field(default_factory=dict)  # tables combined from several files


# Fingerprint format version: bump when the reading of a source changes meaning.
_FINGERPRINT_VERSION = b"relgraph-source-v1"


def fingerprint_tables(tables: dict[str, pa.Table], declared: DeclaredKeys) -> str:
    """Content hash of tables (names, types, values, nulls) and declared keys.

    Independent of how a reader chunked the data and of the undefined bytes Arrow leaves
    under null slots: each column is hashed as its null mask plus its non-null values.

    Args:
        tables: table name -> Arrow table, as read.
        declared: the keys the source declares (part of what a cache depends on).

    Returns:
        32 hex characters (blake2b-128).
    """
    digest = hashlib.blake2b(_FINGERPRINT_VERSION, digest_size=16)
    for name in sorted(tables):
        table = tables[name]
        digest.update(f"table\0{name}\0{table.num_rows}\n".encode())
        for field_, column in zip(table.schema, table.columns):
            digest.update(f"column\0{field_.name}\0{field_.type}\n".encode())
            _hash_column(digest, column)
    digest.update(json.dumps(asdict(declared), sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


def _hash_column(digest: hashlib._Hash, column: pa.ChunkedArray) -> None:
    if column.null_count:
        digest.update(np.packbits(column.is_null().to_numpy(zero_copy_only=False)).tobytes())
    values = pc.drop_null(column).combine_chunks()
    sink = pa.BufferOutputStream()
    batch = pa.record_batch([values], names=["v"])
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    digest.update(memoryview(sink.getvalue()))


def fingerprint_files(paths: list[Path]) -> str:
    """Cheap fingerprint of files: names, sizes and modification times (no content read)."""
    digest = hashlib.blake2b(_FINGERPRINT_VERSION, digest_size=16)
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


# ISO 8601 dates and naive date-times ("2020-01-02", "2020-01-02 03:04:05.123", "…T03:04").
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"


def parse_temporal_strings(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A string column whose non-null values are all ISO dates (date-times) as date32 (timestamp[us]).

    Anything else (other formats, time zones, a single unparsable value) comes back unchanged,
    so this never loses information. Vectorised: regex match and cast run in Arrow.
    """
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    values = pc.drop_null(column)
    if len(values) == 0:
        return column
    if pc.all(pc.match_substring_regex(values, _ISO_DATE)).as_py():
        target: pa.DataType = pa.date32()
    elif pc.all(pc.match_substring_regex(values, _ISO_DATETIME)).as_py():
        target = pa.timestamp("us")
    else:
        return column
    try:
        return pc.cast(column, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return column  # e.g. "2020-02-31": matches the pattern, is no date


def normalize_types(table: pa.Table) -> pa.Table:
    """One Arrow type per kind of value, whatever the driver: every later layer handles these.

    Integers of any width -> int64 (uint64 only when its values fit), float32 -> float64,
    decimals -> int64 (scale 0, at most 18 digits) or float64, dictionaries decoded, and
    time-zone-aware timestamps -> naive UTC.
    """
    fields, columns, changed = [], [], False
    for field_, column in zip(table.schema, table.columns):
        target = _plain_type(field_.type)
        if target != field_.type:
            try:
                column = pc.cast(column, target)
            except pa.ArrowInvalid:  # uint64 beyond int64
                target = field_.type
            changed = changed or target != field_.type
        fields.append(field_.with_type(target))
        columns.append(column)
    return pa.table(columns, schema=pa.schema(fields, metadata=table.schema.metadata)) if changed else table


def _plain_type(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(type_):
        return _plain_type(type_.value_type)
    if pa.types.is_integer(type_):
        return pa.int64()
    if pa.types.is_floating(type_):
        return pa.float64()
    if pa.types.is_decimal(type_):
        return pa.int64() if type_.scale == 0 and type_.precision <= 18 else pa.float64()
    if pa.types.is_timestamp(type_) and type_.tz is not None:
        return pa.timestamp(type_.unit)
    return type_


def narrowest_type(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A string column as int64, float64, bool, date32 or timestamp when every value fits, else as is.

    Vectorised: each candidate is one Arrow cast that fails on the first value that does not fit.
    """
    for target in (pa.int64(), pa.float64(), pa.bool_()):
        try:
            return pc.cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return parse_temporal_strings(column)


def sort_foreign_keys(declared: DeclaredKeys, tables: dict[str, pa.Table]) -> DeclaredKeys:
    """Each table's foreign keys in the order of their columns in the table (catalogs list them by name or id)."""
    for name, fks in declared.foreign_keys.items():
        order = {column: i for i, column in enumerate(tables[name].column_names)} if name in tables else {}
        fks.sort(key=lambda fk: order.get(fk[0], len(order)))
    return declared
