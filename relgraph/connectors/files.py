"""Folders of CSV / Parquet files (one file = one table) and RelBench ``db/`` folders.

CSV files are read by pyarrow's CSV reader (multi-threaded, typed columns straight into Arrow,
strict about column counts; ``\\N``, ``NA``, ``NULL`` and empty fields are nulls, and
placeholders like ``-`` or ``n/a`` among numbers too: see :mod:`relgraph.connectors.values`);
Parquet files by pyarrow.
RelBench writes each table's keys and time column into the Parquet schema metadata
(``pkey_col``, ``fkey_col_to_pkey_table``, ``time_col``, JSON values); those become
:class:`DeclaredKeys`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from relgraph.connectors.base import (
    DeclaredKeys,
    SourceData,
    fingerprint_tables,
    narrowest_type,
    normalize_types,
)
from relgraph.connectors.values import MISSING_TOKENS, with_sentinels_as_nulls
from relgraph.errors import SourceError

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
#: CSV cells read as null: ``\N``, ``NA``, ``NULL``, ``N/A``, ``#N/A`` and empty fields.
CSV_NULLS = MISSING_TOKENS


def table_name(path: Path) -> str:
    """Table name of a data file: its name without the data suffix (``results.csv.gz`` -> ``results``)."""
    name = path.name
    for suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def data_files(folder: Path) -> list[Path]:
    """CSV and Parquet files directly inside ``folder``, sorted by name."""
    suffixes = CSV_SUFFIXES + PARQUET_SUFFIXES
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(suffixes))


def relbench_db_folder(folder: Path) -> Path | None:
    """The ``db/`` folder of a RelBench dataset folder (``<folder>/db/*.parquet``), if there is one."""
    db = folder / "db"
    if db.is_dir() and any(p.name.endswith(PARQUET_SUFFIXES) for p in db.iterdir()):
        return db
    return None


def read_csv(path: Path) -> pa.Table:
    """One CSV file (header row required) as an Arrow table with inferred column types.

    pyarrow's reader infers int64 / float64 / bool / date32 / time / timestamp / string from
    the first block; when a later value does not fit (a code column turning alphanumeric),
    the file is re-read as strings and each column cast to the narrowest type all its values fit.
    """
    parse = pa_csv.ParseOptions(
        delimiter="\t" if ".tsv" in path.name.lower() else ",", newlines_in_values=True
    )
    convert = pa_csv.ConvertOptions(null_values=CSV_NULLS, strings_can_be_null=True)
    try:
        try:
            return with_sentinels_as_nulls(pa_csv.read_csv(path, parse_options=parse, convert_options=convert))
        except pa.ArrowInvalid as err:
            if "conversion error" not in str(err).lower():
                raise
        names = pa_csv.open_csv(path, parse_options=parse, convert_options=convert).schema.names
        convert.column_types = {name: pa.string() for name in names}
        as_text = pa_csv.read_csv(path, parse_options=parse, convert_options=convert)
        table = pa.table([narrowest_type(col) for col in as_text.columns], names=as_text.column_names)
        return with_sentinels_as_nulls(table)
    except (OSError, pa.ArrowException) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SourceError(f"cannot parse CSV file {path}: {first_line}") from err


def read_parquet(path: Path) -> pa.Table:
    """One Parquet file as an Arrow table (schema metadata kept)."""
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise SourceError(f"cannot read Parquet file {path}: {err}") from err


def relbench_keys(tables: dict[str, pa.Table], folder: Path) -> DeclaredKeys:
    """Keys and time columns from RelBench's Parquet metadata.

    RelBench foreign keys name only the parent table; the referenced column is that table's
    ``pkey_col``.
    """
    meta = {name: _relbench_meta(table) for name, table in tables.items()}
    declared = DeclaredKeys()
    for name, entries in meta.items():
        if entries.get("pkey_col"):
            declared.primary_keys[name] = entries["pkey_col"]
        if entries.get("time_col"):
            declared.time_columns[name] = entries["time_col"]
    for name, entries in meta.items():
        for column, parent in (entries.get("fkey_col_to_pkey_table") or {}).items():
            parent_key = declared.primary_keys.get(parent)
            if parent_key is None:
                what = "is not in the folder" if parent not in tables else "has no pkey_col"
                raise SourceError(
                    f"RelBench metadata of {folder / name}.parquet: foreign key {column} -> {parent}, "
                    f"but table {parent} {what}; fix the file's fkey_col_to_pkey_table"
                )
            declared.foreign_keys.setdefault(name, []).append((column, parent, parent_key))
    return declared


def _relbench_meta(table: pa.Table) -> dict:
    raw = table.schema.metadata or {}
    return {
        key: json.loads(raw[key.encode()])
        for key in ("pkey_col", "fkey_col_to_pkey_table", "time_col")
        if key.encode() in raw
    }


def read_folder(folder: Path, source: str) -> SourceData:
    """Every CSV / Parquet file of ``folder`` as a table; a RelBench folder's ``db/`` is used directly.

    Args:
        folder: a folder of data files, a RelBench dataset folder, or its ``db/`` folder.
        source: the locator to report.

    Raises:
        SourceError: no data files, two files for one table name, or an unreadable file.
    """
    folder = relbench_db_folder(folder) or folder
    files = data_files(folder)
    if not files:
        raise SourceError(
            f"no tables in folder {folder}: expected *.csv, *.tsv, *.parquet files (one per table), "
            "a RelBench db/ folder, or a Stack Exchange dump (*.xml)"
        )
    tables: dict[str, pa.Table] = {}
    for path in files:
        name = table_name(path)
        if name in tables:
            raise SourceError(f"two files for table {name!r} in {folder}: keep one of them")
        tables[name] = read_file(path)
    declared = relbench_keys(tables, folder)
    return SourceData(source, tables, declared, fingerprint_tables(tables, declared))


def read_single_file(path: Path, source: str) -> SourceData:
    """One CSV or Parquet file as a one-table source (RelBench metadata honoured, if any)."""
    tables = {table_name(path): read_file(path)}
    declared = relbench_keys(tables, path.parent)
    return SourceData(source, tables, declared, fingerprint_tables(tables, declared))


def read_file(path: Path) -> pa.Table:
    """One CSV or Parquet file as a table."""
    table = read_parquet(path) if path.name.lower().endswith(PARQUET_SUFFIXES) else read_csv(path)
    seen: set[str] = set()
    for name in table.column_names:
        if name in seen:
            raise SourceError(f"{path} has two columns named {name!r}: rename one in the header")
        seen.add(name)
    return normalize_types(table)
