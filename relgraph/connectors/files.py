"""Folders of CSV / Parquet files (one file = one table) and RelBench ``db/`` folders.

Files that split one table by a numeric or date suffix (``matches_2019.csv``,
``matches_2020.csv``; ``part-0001.parquet``, ...) with the same columns are one table, with a
``part`` column naming each row's file (:func:`combine_parts`); a schema file's
``parts = false`` reads them apart again (:func:`separate_parts`).

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
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from relgraph.connectors.base import (
    DeclaredKeys,
    FileParts,
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
    paths: dict[str, Path] = {}
    for path in files:
        name = table_name(path)
        if name in tables:
            raise SourceError(f"two files for table {name!r} in {folder}: keep one of them")
        tables[name] = read_file(path)
        paths[name] = path
    tables, parts = combine_parts(tables, paths, folder)
    declared = relbench_keys(tables, folder)
    return SourceData(source, tables, declared, fingerprint_tables(tables, declared), parts)


#: A file stem made of a base and a numeric or date suffix: ``matches_2019``, ``part-0001``, ``sales.2020-01``.
PART_NAME = re.compile(r"^(?P<base>.*?)[_\-. ]?(?P<part>\d{4}-\d{2}(?:-\d{2})?|\d+)$")
#: Bases that name no table (``part-0001.parquet``): the folder names it.
GENERIC_BASES = {"", "part", "data", "chunk", "file", "shard", "split"}
#: Name of the column saying which file a row of a combined table came from.
PART_COLUMN = "part"


def combine_parts(
    tables: dict[str, pa.Table], paths: dict[str, Path], folder: Path
) -> tuple[dict[str, pa.Table], dict[str, FileParts]]:
    """Files holding one table split by a numeric or date suffix, as one table with a ``part`` column.

    ``matches_2019.csv``, ``matches_2020.csv`` (same column names, in order) become table
    ``matches`` with column ``part`` = ``"2019"``, ``"2020"``; ``part-0001.parquet``, ... in
    folder ``ratings`` become table ``ratings``. Files are left apart when there is one, when
    their columns differ or when the combined name is another file's table.

    Returns:
        The tables (combined ones in place of their files) and, per combined table, its parts.
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in tables:
        match = PART_NAME.match(name)
        if match is None:
            continue
        base = match["base"].rstrip("_-. ")
        base = folder.name if base.lower() in GENERIC_BASES else base
        groups.setdefault(base, []).append((match["part"], name))
    out: dict[str, pa.Table] = {}
    parts: dict[str, FileParts] = {}
    combined: dict[str, str] = {}  # file table -> combined table
    for base, members in groups.items():
        names = [tables[n].column_names for _, n in members]
        if len(members) < 2 or base in tables or any(columns != names[0] for columns in names):
            continue
        members.sort()
        column = PART_COLUMN
        while column in names[0]:
            column = "_" + column
        pieces = [
            tables[n].append_column(column, pa.array([value] * tables[n].num_rows, pa.string()))
            for value, n in members
        ]
        out[base] = _concat(pieces, base)
        parts[base] = FileParts(column, [paths[n].name for _, n in members], [value for value, _ in members])
        combined.update({n: base for _, n in members})
    result: dict[str, pa.Table] = {}
    for name, table in tables.items():
        target = combined.get(name)
        if target is None:
            result[name] = table
        elif target not in result:
            result[target] = out[target]
    return result, parts


def _concat(pieces: list[pa.Table], name: str) -> pa.Table:
    """Tables with the same column names as one; a column whose types differ across files is
    unified (int with float: float) or, failing that, read as text and narrowed again."""
    metadata = pieces[0].schema.metadata
    try:
        return pa.concat_tables(pieces, promote_options="permissive").replace_schema_metadata(metadata)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    names = pieces[0].column_names
    columns = []
    for i, column in enumerate(names):
        types = {p.schema.field(i).type for p in pieces}
        if len(types) == 1:
            columns.append(pa.chunked_array([c for p in pieces for c in p.column(i).chunks]))
            continue
        try:
            text = pa.chunked_array([c for p in pieces for c in p.column(i).cast(pa.string()).chunks])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise SourceError(f"table {name}: column {column} has types {sorted(map(str, types))} in its files; "
                              "give it one type in every file") from err
        columns.append(narrowest_type(text))
    return pa.table(columns, names=names).replace_schema_metadata(metadata)


def separate_parts(data: SourceData, names: list[str], where: str) -> SourceData:
    """``data`` with the combined tables ``names`` back as one table per file (named by file, no part column).

    Raises:
        SourceError: a name is no table combined from files.
    """
    if not names:
        return data
    unknown = [n for n in names if n not in data.parts]
    if unknown:
        combined = ", ".join(data.parts) or "none"
        raise SourceError(
            f"{where}: tables.{unknown[0]}.parts = false, but {unknown[0]} is no table combined from several "
            f"files (combined: {combined})"
        )
    tables: dict[str, pa.Table] = {}
    parts = dict(data.parts)
    for name, table in data.tables.items():
        if name not in names:
            tables[name] = table
            continue
        info = parts.pop(name)
        column = table.column(info.column)
        for file_name, value in zip(info.files, info.values):
            piece = table.filter(pc.equal(column, value)).drop_columns([info.column])
            tables[table_name(Path(file_name))] = piece
    declared = data.declared
    return SourceData(data.source, tables, declared, fingerprint_tables(tables, declared), parts)


def read_single_file(path: Path, source: str) -> SourceData:
    """One CSV or Parquet file as a one-table source (RelBench metadata honoured, if any)."""
    tables = {table_name(path): read_file(path)}
    declared = relbench_keys(tables, path.parent)
    return SourceData(source, tables, declared, fingerprint_tables(tables, declared))


def read_file(path: Path) -> pa.Table:
    """One CSV or Parquet file as a table."""
    if path.stat().st_size == 0:
        raise SourceError(f"{path} is an empty file (0 bytes, not even a header row); remove it from the folder")
    table = read_parquet(path) if path.name.lower().endswith(PARQUET_SUFFIXES) else read_csv(path)
    table = name_blank_columns(table)
    seen: set[str] = set()
    for name in table.column_names:
        if name in seen:
            raise SourceError(f"{path} has two columns named {name!r}: rename one in the header")
        seen.add(name)
    return normalize_types(table)


def name_blank_columns(table: pa.Table) -> pa.Table:
    """A blank header (the index column ``pandas.to_csv`` writes: ``,name,...``) becomes
    ``column_<position>`` (1-based), so that it can be named in PQL and schema files."""
    names = table.column_names
    if all(name.strip() for name in names):
        return table
    taken = set(names)
    renamed = []
    for position, name in enumerate(names, start=1):
        if not name.strip():
            name = f"column_{position}"
            while name in taken:
                name += "_"
            taken.add(name)
        renamed.append(name)
    return table.rename_columns(renamed)
