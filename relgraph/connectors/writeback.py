"""``relgraph predict --write-table NAME``: predictions as a NEW table in the user's database.

The only place relgraph writes to a source, and only when asked: it creates a table that does
not exist yet and refuses otherwise (never replaces, never appends). Supported: SQLite, DuckDB,
PostgreSQL, MySQL/MariaDB (URLs or, for SQLite / DuckDB, a bare file path), and folders of
Parquet/CSV files (a new ``NAME.parquet``). A failed write leaves no table behind.

Values go in as bound parameters: timestamps as ISO text, NaN as NULL, list cells (ranking ids
and scores) as JSON text; DuckDB and Parquet keep native types (lists stay lists).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from relgraph.connectors.urls import (
    CONNECT_TIMEOUT_S,
    file_url_path,
    parse_mysql_url,
    parse_postgres_url,
    quote_ident,
    redact_password,
)
from relgraph.errors import SourceError

#: SQL type per NumPy dtype kind; anything else (strings, lists) is the dialect's text type.
_SQL_TYPES = {"i": "BIGINT", "u": "BIGINT", "f": "DOUBLE PRECISION", "b": "BOOLEAN", "M": "TIMESTAMP"}


def _exists_error(name: str, where: str) -> SourceError:
    return SourceError(f"table {name!r} already exists in {where}; choose a new --write-table name")


def _write_error(name: str, where: str, err: BaseException) -> SourceError:
    text = str(err).strip()
    return SourceError(f"cannot create table {name!r} in {where}: {text.splitlines()[0] if text else type(err).__name__}")


def _sql_columns(frame: pd.DataFrame, quote: str, text_type: str, float_type: str, time_type: str) -> str:
    """``"col" TYPE, ...`` for CREATE TABLE: each dialect's names for text, float and timestamp."""
    names = {"DOUBLE PRECISION": float_type, "TIMESTAMP": time_type}
    cols = []
    for col, dtype in frame.dtypes.items():
        sql = _SQL_TYPES.get(dtype.kind, text_type)
        cols.append(f"{quote_ident(str(col), quote)} {names.get(sql, sql)}")
    return ", ".join(cols)


def _cell(v: Any) -> Any:
    """One value as the drivers bind it: lists as JSON text, NaN / None as None, NumPy scalars as Python."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return json.dumps([x.item() if isinstance(x, np.generic) else x for x in v])
    if pd.isna(v):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _rows(frame: pd.DataFrame) -> list[tuple]:
    """Python values per row: timestamps as ISO text (every engine casts it), NaN as None, lists as JSON text."""
    columns = []
    for col in frame.columns:
        values = frame[col]
        if values.dtype.kind == "M":
            text = values.dt.strftime("%Y-%m-%d %H:%M:%S")
            columns.append([None if pd.isna(v) else v for v in text])
        else:
            columns.append([_cell(v) for v in values.astype(object)])
    return list(zip(*columns))


def _pyformat(sql: str) -> str:
    """``sql`` safe for a driver's ``%s`` placeholders: a ``%`` in a quoted name must not read as one."""
    return sql.replace("%", "%%")


def write_table(source: str, name: str, frame: pd.DataFrame) -> str:
    """Create table ``name`` in ``source`` holding ``frame``; returns where it was written.

    Args:
        source: the locator the predictions were made on (URL, SQLite / DuckDB file, or folder).
        name: the new table's name (any characters; quoted in SQL, a file stem in a folder).
        frame: ``[n, c]`` predictions; one column per table column, in order.

    Raises:
        SourceError: the table exists, the source cannot take a table, or the database refuses
            the write (one line; nothing is left behind).
    """
    if not name or "\x00" in name:
        raise SourceError("--write-table needs a non-empty table name")
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme == "sqlite":
        return _write_sqlite(file_url_path(source)[0], name, frame)
    if scheme == "duckdb":
        path, params = file_url_path(source)
        return _write_duckdb(path, params.get("schema", "main"), name, frame)
    if scheme in ("postgresql", "postgres"):
        return _write_postgres(source, name, frame)
    if scheme in ("mysql", "mariadb"):
        return _write_mysql(source, name, frame)
    if scheme:
        raise SourceError(f"--write-table cannot write to {scheme}:// sources; write a file with --out instead")
    path = Path(source).expanduser()
    if path.is_dir():
        return _write_folder(path, name, frame)
    if path.is_file():
        from relgraph.connectors.sqlite import is_sqlite_file

        if is_sqlite_file(path):
            return _write_sqlite(path, name, frame)
        if path.suffix.lower() in (".duckdb", ".ddb"):
            return _write_duckdb(path, "main", name, frame)
    raise SourceError(f"--write-table needs a database or a folder source, not {source!r}; use --out FILE")


def _write_sqlite(path: Path, name: str, frame: pd.DataFrame) -> str:
    import sqlite3

    con = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN: CREATE and INSERTs in one transaction
    try:
        # SQLite names are case-blind (ASCII), and tables, views and indexes share one namespace.
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = ? COLLATE NOCASE", (name,)).fetchone():
            raise _exists_error(name, str(path))
        con.execute("BEGIN")
        try:
            con.execute(f"CREATE TABLE {quote_ident(name)} ({_sql_columns(frame, chr(34), 'TEXT', 'REAL', 'TIMESTAMP')})")
            marks = ", ".join("?" * len(frame.columns))
            con.executemany(f"INSERT INTO {quote_ident(name)} VALUES ({marks})", _rows(frame))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except sqlite3.Error as err:
        raise _write_error(name, str(path), err) from err
    finally:
        con.close()
    return f"{path}:{name}"


def _write_duckdb(path: Path, schema: str, name: str, frame: pd.DataFrame) -> str:
    import duckdb

    try:
        con = duckdb.connect(str(path))
        try:
            # DuckDB resolves names without case, so "Order" would collide with "order".
            found = con.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND lower(table_name) = lower(?)",
                [schema, name],
            ).fetchone()
            if found:
                raise _exists_error(name, str(path))
            con.register("__rg_predictions", pa.Table.from_pandas(frame, preserve_index=False))
            con.execute(f"CREATE TABLE {quote_ident(schema)}.{quote_ident(name)} AS SELECT * FROM __rg_predictions")
        finally:
            con.close()
    except duckdb.Error as err:
        raise _write_error(name, str(path), err) from err
    return f"{path}:{name}"


def _write_postgres(source: str, name: str, frame: pd.DataFrame) -> str:
    import psycopg2
    from psycopg2.extras import execute_values

    target = parse_postgres_url(source)
    schema, url = target.schema, target.libpq_url
    where = f"schema {schema!r} of {redact_password(source)}"
    table = f"{quote_ident(schema)}.{quote_ident(name)}"
    try:
        con = psycopg2.connect(url, connect_timeout=int(CONNECT_TIMEOUT_S))
        try:
            with con, con.cursor() as cur:  # one transaction: a failed INSERT leaves no table
                cur.execute("SELECT to_regclass(%s)", (table,))
                if cur.fetchone()[0] is not None:
                    raise _exists_error(name, where)
                cur.execute(f"CREATE TABLE {table} ({_sql_columns(frame, chr(34), 'TEXT', 'DOUBLE PRECISION', 'TIMESTAMP')})")
                execute_values(cur, _pyformat(f"INSERT INTO {table} VALUES ") + "%s", _rows(frame), page_size=1000)
        finally:
            con.close()
    except psycopg2.Error as err:
        raise _write_error(name, where, err) from err
    return f"{schema}.{name}"


def _write_mysql(source: str, name: str, frame: pd.DataFrame) -> str:
    import pymysql

    target = parse_mysql_url(source)
    database = target.database
    where = f"database {database!r} of {redact_password(source)}"
    table = quote_ident(name, "`")
    try:
        con = pymysql.connect(**target.login())
        try:
            with con.cursor() as cur:
                cur.execute(
                    "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                    (database, name),
                )
                if cur.fetchone():
                    raise _exists_error(name, where)
                # DATETIME, not TIMESTAMP: no 1970-2038 range limit, no time-zone shift, NULL stays NULL.
                columns = _sql_columns(frame, "`", "LONGTEXT", "DOUBLE", "DATETIME")
                cur.execute(f"CREATE TABLE {table} ({columns}) DEFAULT CHARSET=utf8mb4")
                try:
                    marks = ", ".join(["%s"] * len(frame.columns))
                    cur.executemany(_pyformat(f"INSERT INTO {table} VALUES ") + f"({marks})", _rows(frame))
                    con.commit()
                except BaseException:
                    # MySQL commits DDL at once: drop the table this call just created.
                    cur.execute(f"DROP TABLE {table}")
                    raise
        finally:
            con.close()
    except pymysql.MySQLError as err:
        raise _write_error(name, where, err) from err
    return f"{database}.{name}"


def _write_folder(folder: Path, name: str, frame: pd.DataFrame) -> str:
    import pyarrow.parquet as pq

    from relgraph.connectors.files import data_files, relbench_db_folder, table_name

    if name in (".", "..") or "/" in name or "\\" in name:
        raise SourceError(f"--write-table {name!r}: a table in a folder is a file name; leave out '/' and '\\'")
    folder = relbench_db_folder(folder) or folder  # a RelBench dataset's tables live in db/
    if any(table_name(p) == name for p in data_files(folder)):
        raise _exists_error(name, str(folder))
    table = pa.Table.from_pandas(frame, preserve_index=False)  # fails before any file exists
    target = folder / f"{name}.parquet"
    try:
        out = target.open("xb")  # create-only, even against a file appearing meanwhile
    except FileExistsError as err:
        raise _exists_error(name, str(folder)) from err
    try:
        with out:
            pq.write_table(table, out)
    except BaseException:
        target.unlink()
        raise
    return str(target)
