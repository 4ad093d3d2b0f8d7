"""DuckDB database files, opened with ``read_only=True``; declared keys from ``duckdb_constraints()``."""

from __future__ import annotations

from pathlib import Path

import duckdb

from relgraph.connectors.base import (
    DeclaredKeys,
    SourceData,
    fingerprint_tables,
    normalize_types,
    sort_foreign_keys,
)
from relgraph.connectors.urls import file_url_path, quote_ident
from relgraph.errors import SourceError


def read_duckdb(url: str) -> SourceData:
    """All base tables of one schema of ``duckdb:///path.duckdb[?schema=NAME]`` (default ``main``).

    Raises:
        SourceError: missing or unreadable file, or a schema without tables.
    """
    path, params = file_url_path(url)
    return read_duckdb_file(path, params.get("schema", "main"))


def read_duckdb_file(path: Path, schema: str = "main") -> SourceData:
    """All base tables of ``schema`` in the DuckDB file at ``path`` (see :func:`read_duckdb`)."""
    if not path.is_file():
        raise SourceError(f"DuckDB file {path} does not exist")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as err:
        raise SourceError(f"cannot open DuckDB file {path}: {str(err).splitlines()[0]}") from err
    try:
        names = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = ? AND NOT temporary ORDER BY table_name",
                [schema],
            ).fetchall()
        ]
        if not names:
            raise SourceError(f"DuckDB database {path} has no tables in schema {schema!r}")
        tables = {
            name: normalize_types(
                con.sql(f"SELECT * FROM {quote_ident(schema)}.{quote_ident(name)}").to_arrow_table()
            )
            for name in names
        }
        declared = sort_foreign_keys(_declared_keys(con, schema), tables)
    except duckdb.Error as err:
        raise SourceError(f"cannot read DuckDB file {path}: {str(err).splitlines()[0]}") from err
    finally:
        con.close()
    locator = f"duckdb:///{path.resolve()}" + ("" if schema == "main" else f"?schema={schema}")
    return SourceData(locator, tables, declared, fingerprint_tables(tables, declared))


def _declared_keys(con: duckdb.DuckDBPyConnection, schema: str) -> DeclaredKeys:
    rows = con.execute(
        "SELECT table_name, constraint_type, constraint_column_names, referenced_table, referenced_column_names "
        "FROM duckdb_constraints() WHERE database_name = current_database() AND schema_name = ? "
        "AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') ORDER BY table_name, constraint_index",
        [schema],
    ).fetchall()
    declared = DeclaredKeys()
    for table, kind, columns, parent, parent_columns in rows:
        if kind == "PRIMARY KEY":
            if len(columns) == 1:
                declared.primary_keys[table] = columns[0]
            else:
                declared.composite.primary_keys[table] = list(columns)
        elif len(columns) == 1:
            declared.foreign_keys.setdefault(table, []).append((columns[0], parent, parent_columns[0]))
        else:
            declared.composite.foreign_keys.setdefault(table, []).append(
                (list(columns), parent, list(parent_columns))
            )
    return declared
