"""``relgraph predict --write-table NAME``: predictions as a NEW table in the user's database.

The only place relgraph writes to a source, and only when asked: it creates a table that does
not exist yet and refuses otherwise (never replaces, never appends). Supported: SQLite, DuckDB,
PostgreSQL, MySQL/MariaDB, and folders of Parquet/CSV files (a new ``NAME.parquet``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pyarrow as pa

from relgraph.connectors.urls import file_url_path, quote_ident
from relgraph.errors import SourceError

_SQL_TYPES = {"i": "BIGINT", "u": "BIGINT", "f": "DOUBLE PRECISION", "b": "BOOLEAN", "M": "TIMESTAMP"}


def _exists_error(name: str, where: str) -> SourceError:
    return SourceError(f"table {name!r} already exists in {where}; choose a new --write-table name")


def _sql_columns(frame: pd.DataFrame, quote: str, text_type: str, float_type: str) -> str:
    cols = []
    for col, dtype in frame.dtypes.items():
        sql = _SQL_TYPES.get(dtype.kind, text_type)
        cols.append(f"{quote_ident(str(col), quote)} {float_type if sql == 'DOUBLE PRECISION' else sql}")
    return ", ".join(cols)


def _rows(frame: pd.DataFrame) -> list[tuple]:
    """Python values per row: timestamps as ISO text (every engine casts it), NaN as None, lists as text."""
    columns = []
    for col in frame.columns:
        values = frame[col]
        if values.dtype.kind == "M":
            text = values.dt.strftime("%Y-%m-%d %H:%M:%S")
            columns.append([None if pd.isna(v) else v for v in text])
        else:
            columns.append([
                None if not isinstance(v, (list, tuple)) and pd.isna(v) else (str(v) if isinstance(v, (list, tuple)) else v)
                for v in values.astype(object)
            ])
    return [tuple(r.item() if hasattr(r, "item") else r for r in row) for row in zip(*columns)]


def write_table(source: str, name: str, frame: pd.DataFrame) -> str:
    """Create table ``name`` in ``source`` holding ``frame``; returns where it was written.

    Raises ``SourceError`` when the table exists or the source cannot take a table.
    """
    if not name or "\x00" in name:
        raise SourceError("--write-table needs a non-empty table name")
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme == "sqlite":
        import sqlite3

        path, _ = file_url_path(source)
        con = sqlite3.connect(path)
        try:
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone():
                raise _exists_error(name, str(path))
            con.execute(f"CREATE TABLE {quote_ident(name)} ({_sql_columns(frame, chr(34), 'TEXT', 'REAL')})")
            marks = ", ".join("?" * len(frame.columns))
            con.executemany(f"INSERT INTO {quote_ident(name)} VALUES ({marks})", _rows(frame))
            con.commit()
        finally:
            con.close()
        return f"{path}:{name}"
    if scheme == "duckdb":
        import duckdb

        path, params = file_url_path(source)
        con = duckdb.connect(str(path))
        try:
            schema = params.get("schema", "main")
            found = con.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
            ).fetchone()
            if found:
                raise _exists_error(name, str(path))
            con.register("__rg_predictions", pa.Table.from_pandas(frame, preserve_index=False))
            con.execute(f"CREATE TABLE {quote_ident(schema)}.{quote_ident(name)} AS SELECT * FROM __rg_predictions")
        finally:
            con.close()
        return f"{path}:{name}"
    if scheme in ("postgresql", "postgres"):
        import psycopg2

        parts = urlsplit(source)
        schema = parse_qs(parts.query).get("schema", ["public"])[-1]
        con = psycopg2.connect(source.split("?", 1)[0])
        try:
            with con, con.cursor() as cur:
                cur.execute("SELECT to_regclass(%s)", (f"{quote_ident(schema)}.{quote_ident(name)}",))
                if cur.fetchone()[0] is not None:
                    raise _exists_error(name, f"schema {schema}")
                table = f"{quote_ident(schema)}.{quote_ident(name)}"
                cur.execute(f"CREATE TABLE {table} ({_sql_columns(frame, chr(34), 'TEXT', 'DOUBLE PRECISION')})")
                marks = ", ".join(["%s"] * len(frame.columns))
                cur.executemany(f"INSERT INTO {table} VALUES ({marks})", _rows(frame))
        finally:
            con.close()
        return f"{schema}.{name}"
    if scheme in ("mysql", "mariadb"):
        import pymysql

        parts = urlsplit(source)
        database = parts.path.lstrip("/")
        con = pymysql.connect(
            host=parts.hostname or "127.0.0.1", port=parts.port or 3306, user=parts.username or "root",
            password=parts.password or "", database=database,
        )
        try:
            with con.cursor() as cur:
                cur.execute(
                    "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                    (database, name),
                )
                if cur.fetchone():
                    raise _exists_error(name, f"database {database}")
                table = quote_ident(name, "`")
                cur.execute(f"CREATE TABLE {table} ({_sql_columns(frame, '`', 'TEXT', 'DOUBLE')})")
                marks = ", ".join(["%s"] * len(frame.columns))
                cur.executemany(f"INSERT INTO {table} VALUES ({marks})", _rows(frame))
            con.commit()
        finally:
            con.close()
        return f"{database}.{name}"
    if scheme:
        raise SourceError(f"--write-table cannot write to {scheme}:// sources; write a file with --out instead")
    folder = Path(source)
    if not folder.is_dir():
        raise SourceError(f"--write-table needs a database or a folder source, not {source!r}; use --out FILE")
    if any((folder / f"{name}{ext}").exists() for ext in (".parquet", ".csv")):
        raise _exists_error(name, str(folder))
    target = folder / f"{name}.parquet"
    frame.to_parquet(target, index=False)
    return str(target)
