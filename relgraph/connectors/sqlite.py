"""SQLite files, opened read-only (``file:…?mode=ro``) with Python's built-in ``sqlite3``.

Why not connectorx here: its SQLite source opens files read-write (creating a missing file,
and checkpointing a WAL database on close) and fails on SQLite's dynamic typing (untyped
columns, a ``DATETIME`` column holding plain dates). Instead each table is profiled once in
SQL (``typeof`` counts per column), every column is selected with the cast that fits all its
values, and rows come back in large batches that are transposed and converted to Arrow
column-wise (C code in ``sqlite3`` and ``pyarrow``; no per-row Python loop of ours).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from relgraph.connectors.base import (
    DeclaredKeys,
    SourceData,
    fingerprint_tables,
    parse_temporal_strings,
    sort_foreign_keys,
)
from relgraph.connectors.urls import file_url_path, quote_ident
from relgraph.errors import SourceError

#: Rows fetched per round trip: large enough that Arrow conversion dominates, small enough for memory.
FETCH_ROWS = 200_000
_SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` starts with SQLite's file header."""
    with path.open("rb") as handle:
        return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def read_sqlite(url: str) -> SourceData:
    """All tables of ``sqlite:///path.db`` with declared primary / foreign keys (``PRAGMA``s).

    Raises:
        SourceError: missing or non-SQLite file, or a database without tables.
    """
    path, _ = file_url_path(url)
    return read_sqlite_file(path)


def read_sqlite_file(path: Path) -> SourceData:
    """All tables of the SQLite file at ``path`` (see :func:`read_sqlite`)."""
    if not path.is_file():
        raise SourceError(f"SQLite file {path} does not exist")
    if path.stat().st_size and not is_sqlite_file(path):
        raise SourceError(f"{path} is not an SQLite database (no SQLite header)")
    try:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise SourceError(f"cannot open SQLite file {path}: {err}") from err
    try:
        names = [
            row[0]
            for row in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                "ORDER BY name"
            )
        ]
        if not names:
            raise SourceError(f"SQLite database {path} is empty (no tables)")
        tables = {name: _read_table(con, name) for name in names}
        declared = sort_foreign_keys(_declared_keys(con, names), tables)
    except sqlite3.Error as err:
        raise SourceError(f"cannot read SQLite file {path}: {err}") from err
    finally:
        con.close()
    return SourceData(f"sqlite:///{path.resolve()}", tables, declared, fingerprint_tables(tables, declared))


def _column_info(con: sqlite3.Connection, table: str) -> list[tuple[str, str, int]]:
    """(name, declared type, position in primary key or 0) per column."""
    return [(row[1], row[2] or "", row[5]) for row in con.execute(f"PRAGMA table_info({quote_ident(table)})")]


def _read_table(con: sqlite3.Connection, table: str) -> pa.Table:
    columns = _column_info(con, table)
    qtable = quote_ident(table)
    profile_sql = ", ".join(
        f"sum(typeof({quote_ident(name)}) = '{kind}')"
        for name, _, _ in columns
        for kind in ("integer", "real", "text", "blob")
    )
    counts = con.execute(f"SELECT {profile_sql} FROM {qtable}").fetchone()
    plans = [_column_plan(name, decl, counts[4 * i : 4 * i + 4]) for i, (name, decl, _) in enumerate(columns)]
    cursor = con.execute(f"SELECT {', '.join(expr for expr, _ in plans)} FROM {qtable}")
    chunks: list[list[pa.Array]] = [[] for _ in plans]
    while rows := cursor.fetchmany(FETCH_ROWS):
        for i, values in enumerate(zip(*rows)):
            chunks[i].append(pa.array(values, type=plans[i][1]))
    arrays = [pa.chunked_array(chunk, type=plan[1]) for chunk, plan in zip(chunks, plans)]
    # BOOLEAN columns arrive as 0/1 integers; text columns may hold ISO dates.
    arrays = [
        pc.cast(a, pa.bool_())
        if "BOOL" in decl.upper() and pa.types.is_integer(a.type)
        else parse_temporal_strings(a)
        for a, (_, decl, _) in zip(arrays, columns)
    ]
    return pa.table(arrays, names=[name for name, _, _ in columns])


def _column_plan(name: str, decl: str, counts: tuple[int | None, ...]) -> tuple[str, pa.DataType]:
    """The SELECT expression and Arrow type that hold every value SQLite stored in a column.

    ``counts`` are the numbers of integer, real, text and blob values (None for an empty table).
    """
    n_int, n_real, n_text, n_blob = (c or 0 for c in counts)
    ident = quote_ident(name)
    if n_text or (n_blob and (n_int or n_real)):
        return f"CAST({ident} AS TEXT)", pa.string()
    if n_blob:
        return ident, pa.binary()
    if n_real:
        return f"CAST({ident} AS REAL)", pa.float64()
    affinity = decl.upper()
    if n_int:
        return ident, pa.int64()
    # Only NULLs: fall back on the declared type (SQLite affinity rules, in their order).
    if "INT" in affinity:
        return ident, pa.int64()
    if any(word in affinity for word in ("CHAR", "CLOB", "TEXT")):
        return ident, pa.string()
    if any(word in affinity for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return ident, pa.float64()
    if "BOOL" in affinity:
        return ident, pa.bool_()
    if "DATE" in affinity or "TIME" in affinity:
        return ident, pa.timestamp("us")
    return ident, pa.string()


def _declared_keys(con: sqlite3.Connection, tables: list[str]) -> DeclaredKeys:
    declared = DeclaredKeys()
    primary: dict[str, list[str]] = {}
    for table in tables:
        pk = sorted((pos, name) for name, _, pos in _column_info(con, table) if pos)
        primary[table] = [name for _, name in pk]
        if len(pk) == 1:
            declared.primary_keys[table] = pk[0][1]
        elif pk:
            declared.composite.primary_keys[table] = primary[table]
    for table in tables:
        # PRAGMA foreign_key_list rows: (id, seq, parent table, child column, parent column or None, ...)
        groups: dict[int, list[tuple[int, str, str, str | None]]] = {}
        for fk_id, seq, parent, column, parent_column, *_ in con.execute(
            f"PRAGMA foreign_key_list({quote_ident(table)})"
        ):
            groups.setdefault(fk_id, []).append((seq, parent, column, parent_column))
        for _, parts in sorted(groups.items()):
            parts.sort()
            parent = parts[0][1]
            columns = [column for _, _, column, _ in parts]
            # "REFERENCES parent" without columns means the parent's primary key ("" if it has none).
            parent_columns = (
                [pc for _, _, _, pc in parts] if parts[0][3] else primary.get(parent) or [""] * len(columns)
            )
            if len(columns) == 1 and len(parent_columns) == 1:
                declared.foreign_keys.setdefault(table, []).append((columns[0], parent, parent_columns[0]))
            else:
                declared.composite.foreign_keys.setdefault(table, []).append(
                    (columns, parent, parent_columns)
                )
    return declared
