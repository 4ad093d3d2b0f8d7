"""Shared fixtures: the real datasets in ``../shared/datasets`` and scratch PostgreSQL / MariaDB schemas.

``pg_scratch`` / ``mysql_scratch`` give a fresh, uniquely named PostgreSQL schema / MariaDB
database, dropped after the test; tests using them should carry ``@pytest.mark.postgres`` /
``@pytest.mark.mysql``. They skip when the server cannot be reached. Servers default to the
ones this project's CI runs (override with ``RELGRAPH_TEST_POSTGRES`` / ``RELGRAPH_TEST_MYSQL``)::

    def test_x(pg_scratch):
        pg_scratch.load({"users": users_df, "orders": orders_table},
                        primary_keys={"users": "id"},
                        foreign_keys={"orders": [("user_id", "users", "id")]})
        db = relgraph.connect(pg_scratch.url)
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
POSTGRES_SERVER = os.environ.get("RELGRAPH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_SERVER = os.environ.get("RELGRAPH_TEST_MYSQL", "mysql://root@127.0.0.1:3306")
#: Rows per INSERT round trip when loading scratch tables.
LOAD_PAGE_ROWS = 5_000


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``<repo>/../shared/datasets`` (f1/, rel-f1/, stack-bicycles-meta/); skips the test when absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS.resolve()


ForeignKeys = dict[str, list[tuple[str, str, str]]]


@dataclass
class ScratchDatabase:
    """A scratch PostgreSQL schema or MariaDB database: ``url`` for relgraph, ``load`` to fill it."""

    url: str
    dialect: str  # "postgres" or "mysql"
    connection: Any  # DB-API connection in autocommit mode, owned by the fixture
    qualifier: str  # quoted schema prefix for PostgreSQL ("" for MySQL: the connection's database)

    def quote(self, name: str) -> str:
        q = '"' if self.dialect == "postgres" else "`"
        return q + name.replace(q, q * 2) + q

    def execute(self, sql: str, params: Any = None) -> None:
        with self.connection.cursor() as cur:
            cur.execute(sql, params)

    def load(
        self,
        tables: dict[str, pd.DataFrame | pa.Table],
        primary_keys: dict[str, str] | None = None,
        foreign_keys: ForeignKeys | None = None,
    ) -> None:
        """Create ``tables`` (column types from their Arrow types) and insert their rows.

        Keys are declared only when given: primary keys first, then foreign keys, after all rows
        are in (so table order does not matter).
        """
        primary_keys = primary_keys or {}
        foreign_keys = foreign_keys or {}
        key_columns = {(t, c) for t, c in primary_keys.items()}
        key_columns |= {(t, c) for t, fks in foreign_keys.items() for c, _, _ in fks}
        key_columns |= {(p, pc) for fks in foreign_keys.values() for _, p, pc in fks}
        for name, data in tables.items():
            table = (
                pa.Table.from_pandas(data, preserve_index=False) if isinstance(data, pd.DataFrame) else data
            )
            columns = ", ".join(
                f"{self.quote(f.name)} {self._sql_type(f.type, (name, f.name) in key_columns)}"
                for f in table.schema
            )
            engine = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" if self.dialect == "mysql" else ""
            self.execute(f"CREATE TABLE {self._qualified(name)} ({columns}){engine}")
            self._insert(name, table)
        for name, column in primary_keys.items():
            self.execute(f"ALTER TABLE {self._qualified(name)} ADD PRIMARY KEY ({self.quote(column)})")
        for name, fks in foreign_keys.items():
            for column, parent, parent_column in fks:
                self.execute(
                    f"ALTER TABLE {self._qualified(name)} ADD FOREIGN KEY ({self.quote(column)}) "
                    f"REFERENCES {self._qualified(parent)} ({self.quote(parent_column)})"
                )

    def _qualified(self, name: str) -> str:
        return self.qualifier + self.quote(name)

    def _insert(self, name: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        columns = ", ".join(self.quote(c) for c in table.column_names)
        has_binary = any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types)
        with self.connection.cursor() as cur:
            if self.dialect == "postgres" and not has_binary:
                # Arrow's CSV quotes every string and leaves nulls empty: exactly COPY's CSV convention.
                buffer = io.BytesIO()
                pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
                buffer.seek(0)
                cur.copy_expert(
                    f"COPY {self._qualified(name)} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer
                )
                return
            rows = list(zip(*(col.to_pylist() for col in table.columns)))
            marks = ", ".join(["%s"] * table.num_columns)
            sql = f"INSERT INTO {self._qualified(name)} ({columns}) VALUES ({marks})"
            for start in range(0, len(rows), LOAD_PAGE_ROWS):
                cur.executemany(sql, rows[start : start + LOAD_PAGE_ROWS])

    def _sql_type(self, type_: pa.DataType, is_key: bool) -> str:
        pg = self.dialect == "postgres"
        if pa.types.is_boolean(type_):
            return "BOOLEAN"
        if pa.types.is_integer(type_):
            return "BIGINT"
        if pa.types.is_floating(type_):
            return "DOUBLE PRECISION" if pg else "DOUBLE"
        if pa.types.is_date(type_):
            return "DATE"
        if pa.types.is_timestamp(type_):
            return "TIMESTAMP" if pg else "DATETIME(6)"
        if pa.types.is_time(type_):
            return "TIME" if pg else "TIME(6)"
        if pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
            return "BYTEA" if pg else "LONGBLOB"
        # MySQL cannot index TEXT without a prefix length, so key columns get VARCHAR.
        return "TEXT" if pg or not is_key else "VARCHAR(255)"


def _scratch_name() -> str:
    return f"rg_test_{uuid.uuid4().hex[:12]}"


@contextmanager
def postgres_scratch(server: str = POSTGRES_SERVER) -> Iterator[ScratchDatabase]:
    """A fresh PostgreSQL schema ``rg_test_<random>`` in ``server``'s database, dropped on exit."""
    import psycopg2

    con = psycopg2.connect(server, connect_timeout=5)
    con.autocommit = True
    schema = _scratch_name()
    scratch = ScratchDatabase(f"{server}?schema={schema}", "postgres", con, f'"{schema}".')
    try:
        scratch.execute(f'CREATE SCHEMA "{schema}"')
        yield scratch
    finally:
        scratch.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        con.close()


@contextmanager
def mysql_scratch_database(server: str = MYSQL_SERVER) -> Iterator[ScratchDatabase]:
    """A fresh MariaDB/MySQL database ``rg_test_<random>`` (utf8mb4, InnoDB), dropped on exit."""
    import pymysql

    parts = urlsplit(server)
    con = pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=5,
    )
    database = _scratch_name()
    scratch = ScratchDatabase(f"{server.rstrip('/')}/{database}", "mysql", con, "")
    try:
        scratch.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        scratch.execute(f"USE `{database}`")
        yield scratch
    finally:
        scratch.execute(f"DROP DATABASE IF EXISTS `{database}`")
        con.close()


def _scratch_or_skip(
    manager: Callable[[], AbstractContextManager[ScratchDatabase]], server: str
) -> Iterator[ScratchDatabase]:
    try:
        context = manager()
        scratch = context.__enter__()
    except Exception as err:  # any driver error: the server is not there for this run
        pytest.skip(f"server {server} not reachable: {str(err).strip().splitlines()[0] if str(err) else err}")
    try:
        yield scratch
    finally:
        context.__exit__(None, None, None)


@pytest.fixture()
def pg_scratch() -> Iterator[ScratchDatabase]:
    """A fresh PostgreSQL schema ``rg_test_<random>`` in the test server's database, dropped afterwards."""
    yield from _scratch_or_skip(postgres_scratch, POSTGRES_SERVER)


@pytest.fixture()
def mysql_scratch() -> Iterator[ScratchDatabase]:
    """A fresh MariaDB/MySQL database ``rg_test_<random>`` (utf8mb4, InnoDB), dropped afterwards."""
    yield from _scratch_or_skip(mysql_scratch_database, MYSQL_SERVER)
