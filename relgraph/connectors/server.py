"""PostgreSQL and MySQL / MariaDB servers, read with connectorx straight into Arrow.

The catalog (tables, column types, key constraints: a few rows per table) is read with the
DB-API drivers psycopg2 / PyMySQL, which fail fast with the server's own message on a bad
login or database name and bind the schema name as a parameter. Table data goes through
connectorx (Rust), which decodes the wire protocol column-wise into Arrow buffers: no Python object
per value. relgraph only sends ``SELECT`` statements (catalog queries and one ``SELECT`` per
table), so nothing is written. Column types connectorx cannot decode (PostgreSQL ``interval``,
arrays, enums, ``money``, …; MySQL ``set``, geometry) are cast to text in the ``SELECT``;
exact numerics become int64 (scale 0, up to 18 digits) or float64.

Locators::

    postgresql://user[:password]@host[:port]/database[?schema=NAME]   (default schema: public)
    mysql://user[:password]@host[:port]/database                      (mariadb:// also accepted)
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import connectorx as cx
import pyarrow as pa

from relgraph.connectors.base import (
    DeclaredKeys,
    SourceData,
    fingerprint_tables,
    normalize_types,
    sort_foreign_keys,
)
from relgraph.connectors.urls import (
    CONNECT_TIMEOUT_S,
    MYSQL_PORT,
    POSTGRES_PORT,
    parse_mysql_url,
    parse_postgres_url,
    quote_ident,
    redact_password,
)
from relgraph.errors import SourceError


@dataclass(frozen=True)
class Dialect:
    """What differs between PostgreSQL and MySQL for reading: names, quoting, casts, catalogs."""

    name: str
    default_port: int
    quote: str
    native_types: frozenset[str]  # information_schema DATA_TYPE values connectorx decodes itself
    to_int: str  # cast templates, {} = quoted column
    to_float: str
    to_text: str


POSTGRES = Dialect(
    name="PostgreSQL",
    default_port=POSTGRES_PORT,
    quote='"',
    native_types=frozenset(
        {
            "smallint",
            "integer",
            "bigint",
            "real",
            "double precision",
            "boolean",
            "text",
            "character varying",
            "character",
            "date",
            "timestamp without time zone",
            "timestamp with time zone",
            "time without time zone",
            "bytea",
            "json",
            "jsonb",
            "uuid",
        }
    ),
    to_int="{}::bigint",
    to_float="{}::double precision",
    to_text="{}::text",
)
MYSQL = Dialect(
    name="MySQL/MariaDB",
    default_port=MYSQL_PORT,
    quote="`",
    native_types=frozenset(
        {
            "tinyint",
            "smallint",
            "mediumint",
            "int",
            "bigint",
            "float",
            "double",
            "char",
            "varchar",
            "tinytext",
            "text",
            "mediumtext",
            "longtext",
            "date",
            "datetime",
            "timestamp",
            "time",
            "year",
            "json",
            "enum",
            "tinyblob",
            "blob",
            "mediumblob",
            "longblob",
            "binary",
            "varbinary",
        }
    ),
    to_int="CAST({} AS SIGNED)",
    to_float="CAST({} AS DOUBLE)",
    to_text="CAST({} AS CHAR)",
)


def read_postgres(url: str) -> SourceData:
    """All base tables of one schema (``?schema=``, default ``public``) with declared keys.

    Raises:
        SourceError: unreachable server (names host:port), bad login / database, empty schema.
    """
    target = parse_postgres_url(url)
    schema, cx_url = target.schema, target.libpq_url
    _check_reachable(POSTGRES, target.host, target.port, url)
    import psycopg2

    try:
        con = psycopg2.connect(cx_url, connect_timeout=int(CONNECT_TIMEOUT_S))
    except psycopg2.Error as err:
        raise SourceError(f"cannot log in to {redact_password(url)}: {_first_line(err)}") from err
    try:
        con.set_session(readonly=True)
        catalog = _catalog(con, _PG_CATALOG, schema)
    except psycopg2.Error as err:
        raise SourceError(f"cannot read the catalog of {redact_password(url)}: {_first_line(err)}") from err
    finally:
        con.close()
    where = f"schema {schema!r} of {redact_password(url)}"
    return _read_tables(POSTGRES, cx_url, url, where, catalog, schema)


def read_mysql(url: str) -> SourceData:
    """All base tables of the URL's database with declared keys (InnoDB foreign keys; MyISAM has none).

    Raises:
        SourceError: unreachable server (names host:port), bad login, unknown or empty database.
    """
    target = parse_mysql_url(url)
    database, cx_url = target.database, target.cx_url
    _check_reachable(MYSQL, target.host, target.port, url)
    import pymysql

    try:
        con = pymysql.connect(**target.login())
    except pymysql.MySQLError as err:
        raise SourceError(f"cannot log in to {redact_password(url)}: {_first_line(err)}") from err
    try:
        catalog = _catalog(con, _MYSQL_CATALOG, database)
    except pymysql.MySQLError as err:
        raise SourceError(f"cannot read the catalog of {redact_password(url)}: {_first_line(err)}") from err
    finally:
        con.close()
    where = f"database {database!r} of {redact_password(url)}"
    return _read_tables(MYSQL, cx_url, url, where, catalog, None)


@dataclass
class Catalog:
    """What the catalog says about one schema: tables, their columns' types, their key constraints."""

    tables: list[str]
    columns: list[tuple[str, str, str, int | None, int | None]]  # table, column, type, precision, scale
    keys: list[tuple[str, str, str, str, int, str | None, str | None]]  # table, name, p/f, col, pos, ref t/c


# Catalog queries, each with one %s parameter per placeholder (the schema name).
_PG_CATALOG = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
    "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
    "FROM information_schema.columns WHERE table_schema = %(schema)s ORDER BY table_name, ordinal_position",
    "SELECT cl.relname, c.conname, c.contype, a.attname, k.ord, rcl.relname, ra.attname "
    "FROM pg_constraint c "
    "JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace "
    "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
    "LEFT JOIN pg_class rcl ON rcl.oid = c.confrelid "
    "LEFT JOIN pg_namespace rn ON rn.oid = rcl.relnamespace "
    "LEFT JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[k.ord] "
    "WHERE n.nspname = %(schema)s AND (c.contype = 'p' OR (c.contype = 'f' AND rn.nspname = %(schema)s)) "
    "ORDER BY 1, 2, 5",
)
_MYSQL_CATALOG = (
    "SELECT TABLE_NAME FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = %(schema)s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %(schema)s ORDER BY TABLE_NAME, ORDINAL_POSITION",
    "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, "
    "CASE c.CONSTRAINT_TYPE WHEN 'PRIMARY KEY' THEN 'p' ELSE 'f' END, "
    "k.COLUMN_NAME, k.ORDINAL_POSITION, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME "
    "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.TABLE_CONSTRAINTS c "
    "ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME "
    "AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
    "WHERE k.TABLE_SCHEMA = %(schema)s AND (c.CONSTRAINT_TYPE = 'PRIMARY KEY' OR "
    "(c.CONSTRAINT_TYPE = 'FOREIGN KEY' AND k.REFERENCED_TABLE_SCHEMA = %(schema)s)) "
    "ORDER BY 1, 2, 5",
)


def _catalog(con: Any, queries: tuple[str, str, str], schema: str) -> Catalog:
    """Run the three catalog queries on a DB-API connection (metadata only: a few rows per table)."""
    results = []
    for sql in queries:
        with con.cursor() as cur:
            cur.execute(sql, {"schema": schema})
            results.append([tuple(row) for row in cur.fetchall()])
    return Catalog([row[0] for row in results[0]], results[1], results[2])


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _check_reachable(dialect: Dialect, host: str | None, port: int | None, url: str) -> None:
    address = (host or "localhost", port or dialect.default_port)
    try:
        socket.create_connection(address, timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise SourceError(
            f"cannot reach {dialect.name} server at {address[0]}:{address[1]} ({err.strerror or err}); "
            f"is it running? (source {redact_password(url)})"
        ) from err


def _query(cx_url: str, url: str, sql: str) -> pa.Table:
    """One SELECT through connectorx as an Arrow table; driver failures become one-line SourceErrors."""
    try:
        return cx.read_sql(cx_url, sql, return_type="arrow")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # connectorx reports some failures as Rust panics (BaseException)
        raise SourceError(f"{redact_password(url)}: {_first_line(err)}") from err


def _select_expression(
    dialect: Dialect, column: str, data_type: str, prec: int | None, scale: int | None
) -> str:
    ident = quote_ident(column, dialect.quote)
    data_type = data_type.lower()
    if data_type in ("numeric", "decimal"):
        # Scale 0 and at most 18 digits fit int64 exactly (ids declared NUMERIC(10)).
        exact_int = scale == 0 and prec is not None and prec <= 18
        return (dialect.to_int if exact_int else dialect.to_float).format(ident) + f" AS {ident}"
    if data_type in dialect.native_types:
        return ident
    return dialect.to_text.format(ident) + f" AS {ident}"


def _read_tables(
    dialect: Dialect, cx_url: str, url: str, where: str, catalog: Catalog, schema: str | None
) -> SourceData:
    if not catalog.tables:
        raise SourceError(f"no tables in {where}: the source is empty")
    selects: dict[str, list[str]] = {}
    for table, column, data_type, prec, scale in catalog.columns:
        selects.setdefault(table, []).append(_select_expression(dialect, column, data_type, prec, scale))
    prefix = "" if schema is None else quote_ident(schema, dialect.quote) + "."
    tables = {
        name: normalize_types(
            _query(
                cx_url,
                url,
                f"SELECT {', '.join(selects[name])} FROM {prefix}{quote_ident(name, dialect.quote)}",
            )
        )
        for name in catalog.tables
    }
    declared = sort_foreign_keys(_declared_keys(catalog.keys, set(catalog.tables)), tables)
    return SourceData(redact_password(url), tables, declared, fingerprint_tables(tables, declared))


def _declared_keys(
    rows: list[tuple[str, str, str, str, int, str | None, str | None]], tables: set[str]
) -> DeclaredKeys:
    """Group catalog rows (table, constraint, kind p/f, column, position, ref table, ref column)."""
    groups: dict[tuple[str, str], list[tuple[str, str, str, str, int, str | None, str | None]]] = {}
    for row in rows:
        if row[0] in tables:
            groups.setdefault((row[0], row[1]), []).append(row)
    declared = DeclaredKeys()
    for (table, _), members in sorted(groups.items()):
        members.sort(key=lambda r: r[4])
        columns = [r[3] for r in members]
        if members[0][2] == "p":
            if len(columns) == 1:
                declared.primary_keys[table] = columns[0]
            else:
                declared.composite.primary_keys[table] = columns
            continue
        parent = str(members[0][5])
        parent_columns = [str(r[6]) for r in members]
        if len(columns) == 1:
            declared.foreign_keys.setdefault(table, []).append((columns[0], parent, parent_columns[0]))
        else:
            declared.composite.foreign_keys.setdefault(table, []).append((columns, parent, parent_columns))
    return declared
