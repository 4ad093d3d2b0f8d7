"""Connectors: read any supported source into Arrow tables plus the keys it declares.

    >>> data = read_source("../shared/datasets/f1")            # folder of CSV files
    >>> data = read_source("sqlite:///shop.db")                # read-only
    >>> data = read_source("postgresql://postgres@127.0.0.1:5432/test?schema=public")

Nothing here ever writes to the source. See ``docs/connectors.md`` for which engine reads what.
"""

from __future__ import annotations

from pathlib import Path

from relgraph.connectors.base import CompositeKeys, DeclaredKeys, SourceData
from relgraph.errors import SourceError

__all__ = ["CompositeKeys", "DeclaredKeys", "SourceData", "SUPPORTED", "read_source"]

#: What ``read_source`` accepts, for error messages and docs.
SUPPORTED = (
    "sqlite:///file.db, duckdb:///file.duckdb, postgresql://user@host:port/db[?schema=NAME], "
    "mysql://user@host:port/db (or mariadb://), "
    "or a folder or file path (CSV, Parquet, RelBench db/, Stack Exchange XML dump, SQLite or DuckDB file)"
)


def read_source(source: str) -> SourceData:
    """Read a source into memory, column-wise, without writing to it.

    Args:
        source: ``sqlite:///path.db`` (read-only), ``duckdb:///path.duckdb[?schema=NAME]``
            (read-only), ``postgresql://user[:pw]@host:port/db[?schema=NAME]`` (default
            schema ``public``), ``mysql://user[:pw]@host:port/db``, a folder of CSV / Parquet
            files (one file = one table, named by the file stem), a RelBench dataset folder
            (``db/*.parquet``) or its ``db`` folder, a Stack Exchange dump folder (``*.xml``),
            or a single CSV / Parquet / SQLite / DuckDB file.

    Returns:
        :class:`SourceData` with ``tables`` (name -> ``pa.Table``), ``declared`` keys,
        a content ``fingerprint`` and the ``source`` locator (password removed).

    Raises:
        SourceError: unknown scheme, missing or unreadable path, no tables.
    """
    if "://" in source:
        scheme = source.split("://", 1)[0].lower()
        if scheme == "sqlite":
            from relgraph.connectors.sqlite import read_sqlite

            return read_sqlite(source)
        if scheme == "duckdb":
            from relgraph.connectors.duckdbfile import read_duckdb

            return read_duckdb(source)
        if scheme in ("postgresql", "postgres"):
            from relgraph.connectors.server import read_postgres

            return read_postgres(source)
        if scheme in ("mysql", "mariadb"):
            from relgraph.connectors.server import read_mysql

            return read_mysql(source)
        raise SourceError(f"unknown source scheme {scheme}:// in {source!r}; supported: {SUPPORTED}")
    return _read_path(Path(source).expanduser())


def _read_path(path: Path) -> SourceData:
    from relgraph.connectors import files

    if not path.exists():
        raise SourceError(
            f"source path {path} does not exist; give a folder of CSV/Parquet files or a database URL"
        )
    resolved = str(path.resolve())
    if path.is_dir():
        from relgraph.connectors.stackexchange import is_dump, read_dump

        if is_dump(path):
            return read_dump(path, resolved)
        return files.read_folder(path, resolved)
    if path.name.lower().endswith(files.CSV_SUFFIXES + files.PARQUET_SUFFIXES):
        return files.read_single_file(path, resolved)
    from relgraph.connectors.sqlite import is_sqlite_file, read_sqlite_file

    if is_sqlite_file(path):
        return read_sqlite_file(path)
    if path.suffix.lower() in (".duckdb", ".ddb"):
        from relgraph.connectors.duckdbfile import read_duckdb_file

        return read_duckdb_file(path)
    raise SourceError(
        f"cannot read {path}: not a folder, CSV, Parquet, SQLite or DuckDB file; supported: {SUPPORTED}"
    )
