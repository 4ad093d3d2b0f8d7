"""SQLite files, opened read-only (``file:…?mode=ro``) with Python's built-in ``sqlite3``.

Why not connectorx here: its SQLite source opens files read-write (creating a missing file,
and checkpointing a WAL database on close) and fails on SQLite's dynamic typing (untyped
columns, a ``DATETIME`` column holding plain dates). Instead each table is selected as stored:
rows come back in large batches that are transposed and converted to Arrow column-wise (C code
in ``sqlite3`` and ``pyarrow``; no per-row Python loop of ours). A column mixing storage classes
(text and numbers) makes relgraph profile that table in SQL (``typeof`` counts per column) and
re-read it with the cast that fits every value.
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


class _MixedStorage(Exception):
    """A column holds values of incompatible storage classes (text and integers, say)."""


def _read_table(con: sqlite3.Connection, table: str) -> pa.Table:
    """One table, typed column by column.

    Fast path: select the stored values as they are and let Arrow infer each batch's type
    (integers and reals widen to float64; all-NULL columns take their declared type). Only when
    a column mixes incompatible storage classes is the table profiled (``typeof`` counts) and
    re-read with the cast that holds every value.
    """
    columns = _column_info(con, table)
    try:
        plans: list[tuple[str, pa.DataType | None]] = [(quote_ident(name), None) for name, _, _ in columns]
        arrays = [_unify(chunks, decl) for chunks, (_, decl, _) in zip(_fetch(con, table, plans), columns)]
    except _MixedStorage:
        plans = _profiled_plans(con, table, columns)
        arrays = [
            pa.chunked_array(chunks, type=t) for chunks, (_, t) in zip(_fetch(con, table, plans), plans)
        ]
    # BOOLEAN columns arrive as 0/1 integers; text columns may hold ISO dates.
    arrays = [
        pc.cast(a, pa.bool_())
        if "BOOL" in decl.upper() and pa.types.is_integer(a.type)
        else parse_temporal_strings(a)
        for a, (_, decl, _) in zip(arrays, columns)
    ]
    return pa.table(arrays, names=[name for name, _, _ in columns])


def _fetch(
    con: sqlite3.Connection, table: str, plans: list[tuple[str, pa.DataType | None]]
) -> list[list[pa.Array]]:
    """Per column, the Arrow chunks of ``SELECT <expressions> FROM table`` (type None: inferred)."""
    cursor = con.execute(f"SELECT {', '.join(expr for expr, _ in plans)} FROM {quote_ident(table)}")
    chunks: list[list[pa.Array]] = [[] for _ in plans]
    while rows := cursor.fetchmany(FETCH_ROWS):
        for i, values in enumerate(zip(*rows)):
            try:
                chunks[i].append(pa.array(values, type=plans[i][1]))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
                raise _MixedStorage from err
    return chunks


def _unify(chunks: list[pa.Array], decl: str) -> pa.ChunkedArray:
    """Batches inferred separately as one column: null batches take the others' type, int64 + float64 widen."""
    kinds = {chunk.type for chunk in chunks} - {pa.null()}
    if not kinds:
        target = _declared_type(decl)
    elif len(kinds) == 1:
        target = kinds.pop()
    elif kinds == {pa.int64(), pa.float64()}:
        target = pa.float64()
    else:
        raise _MixedStorage
    return pa.chunked_array([chunk.cast(target) for chunk in chunks], type=target)


def _profiled_plans(
    con: sqlite3.Connection, table: str, columns: list[tuple[str, str, int]]
) -> list[tuple[str, pa.DataType | None]]:
    profile_sql = ", ".join(
        f"sum(typeof({quote_ident(name)}) = '{kind}')"
        for name, _, _ in columns
        for kind in ("integer", "real", "text", "blob")
    )
    counts = con.execute(f"SELECT {profile_sql} FROM {quote_ident(table)}").fetchone()
    return [_column_plan(name, decl, counts[4 * i : 4 * i + 4]) for i, (name, decl, _) in enumerate(columns)]


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
    if n_int:
        return ident, pa.int64()
    return ident, _declared_type(decl)


def _declared_type(decl: str) -> pa.DataType:
    """Arrow type for a column holding only NULLs: from its declared type (SQLite affinity rules, in order)."""
    affinity = decl.upper()
    if "INT" in affinity:
        return pa.int64()
    if any(word in affinity for word in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if any(word in affinity for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return pa.float64()
    if "BOOL" in affinity:
        return pa.bool_()
    if "DATE" in affinity or "TIME" in affinity:
        return pa.timestamp("us")
    return pa.string()


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
