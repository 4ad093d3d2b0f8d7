"""PostgreSQL and MariaDB through connectorx, against the real servers, in scratch schemas."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from relgraph.connectors import read_source
from relgraph.errors import SourceError

ORDERS = pa.table(
    {
        "id": [1, 2, 3],
        "group": ["a", None, "ü"],
        "placed": pa.array(
            [dt.datetime(2024, 1, 2, 3, 4, 5), None, dt.datetime(2024, 3, 1)], pa.timestamp("us")
        ),
        "day": pa.array([dt.date(2024, 1, 2), None, dt.date(2024, 3, 1)], pa.date32()),
        "amount": [1.5, None, 3.0],
        "paid": [True, False, None],
    }
)
LINES = pa.table({"ligne_id": [10, 11, 12], "order": [1, 1, 3], "prix€": [5, 6, 7]})
KEYS = {"order": "id", "lignes_été": "ligne_id"}
FKS = {"lignes_été": [("order", "order", "id")]}


def _check_round_trip(url: str) -> None:
    data = read_source(url)
    assert sorted(data.tables) == ["lignes_été", "order"]
    order = data.tables["order"]
    assert order.column("group").to_pylist() == ["a", None, "ü"]
    assert order.column("placed").to_pylist() == ORDERS.column("placed").to_pylist()
    assert order.schema.field("day").type == pa.date32()
    assert order.column("amount").to_pylist() == [1.5, None, 3.0]
    assert order.column("paid").cast(pa.bool_()).to_pylist() == [True, False, None]
    assert data.tables["lignes_été"].column("prix€").to_pylist() == [5, 6, 7]
    assert data.tables["lignes_été"].schema.field("order").type == pa.int64()
    assert data.declared.primary_keys == KEYS
    assert data.declared.foreign_keys == FKS


@pytest.mark.postgres
def test_postgres_round_trip_with_reserved_and_non_ascii_names(pg_scratch) -> None:
    pg_scratch.load({"order": ORDERS, "lignes_été": LINES}, primary_keys=KEYS, foreign_keys=FKS)
    _check_round_trip(pg_scratch.url)


@pytest.mark.mysql
def test_mysql_round_trip_with_reserved_and_non_ascii_names(mysql_scratch) -> None:
    mysql_scratch.load({"order": ORDERS, "lignes_été": LINES}, primary_keys=KEYS, foreign_keys=FKS)
    _check_round_trip(mysql_scratch.url)


@pytest.mark.postgres
def test_postgres_reads_only_its_schema_and_awkward_types(pg_scratch) -> None:
    schema = pg_scratch.qualifier
    pg_scratch.execute(
        f"CREATE TABLE {schema}pairs (a INT, b INT, PRIMARY KEY (a, b));"
        f"CREATE TABLE {schema}refs (x INT, y INT, FOREIGN KEY (x, y) REFERENCES {schema}pairs (a, b));"
        f"CREATE TABLE {schema}odd (id NUMERIC(10) PRIMARY KEY, price NUMERIC(8, 2), span INTERVAL, "
        "tags TEXT[], at TIMESTAMPTZ);"
        f"INSERT INTO {schema}odd VALUES (7, 1.25, '1 day', '{{a,b}}', '2024-01-01 12:00:00+02');"
        "CREATE TABLE IF NOT EXISTS public.rg_test_outside_scratch (z INT)"  # another schema: not read
    )
    try:
        data = read_source(pg_scratch.url)
    finally:
        pg_scratch.execute("DROP TABLE public.rg_test_outside_scratch")
    assert sorted(data.tables) == ["odd", "pairs", "refs"]
    odd = data.tables["odd"].to_pylist()[0]
    assert odd["id"] == 7 and data.tables["odd"].schema.field("id").type == pa.int64()
    assert odd["price"] == 1.25
    assert odd["span"] == "1 day" and odd["tags"] == "{a,b}"  # no Arrow decoder: read as text
    assert odd["at"] == dt.datetime(2024, 1, 1, 10, 0)  # naive UTC
    assert data.declared.primary_keys == {"odd": "id"}
    assert data.declared.composite.primary_keys == {"pairs": ["a", "b"]}
    assert data.declared.composite.foreign_keys == {"refs": [(["x", "y"], "pairs", ["a", "b"])]}


@pytest.mark.postgres
def test_postgres_fingerprint_follows_content(pg_scratch) -> None:
    pg_scratch.load({"t": pa.table({"a": [1, 2]})})
    first = read_source(pg_scratch.url)
    assert read_source(pg_scratch.url).fingerprint == first.fingerprint
    pg_scratch.execute(f"UPDATE {pg_scratch.qualifier}t SET a = 3 WHERE a = 2")
    assert read_source(pg_scratch.url).fingerprint != first.fingerprint


@pytest.mark.mysql
def test_mysql_myisam_declares_no_foreign_keys(mysql_scratch) -> None:
    mysql_scratch.execute("CREATE TABLE p (id INT PRIMARY KEY) ENGINE=MyISAM")
    mysql_scratch.execute("CREATE TABLE c (p_id INT, FOREIGN KEY (p_id) REFERENCES p (id)) ENGINE=MyISAM")
    declared = read_source(mysql_scratch.url).declared
    assert declared.primary_keys == {"p": "id"}
    assert declared.foreign_keys == {}


@pytest.mark.postgres
def test_postgres_empty_schema_is_an_error(pg_scratch) -> None:
    with pytest.raises(SourceError, match=r"no tables in schema 'rg_test_\w+' of postgresql://"):
        read_source(pg_scratch.url)


@pytest.mark.mysql
def test_mysql_empty_database_is_an_error(mysql_scratch) -> None:
    with pytest.raises(SourceError, match=r"no tables in database 'rg_test_\w+' of mysql://"):
        read_source(mysql_scratch.url)


def test_unreachable_server_names_host_and_port() -> None:
    with pytest.raises(SourceError, match=r"cannot reach PostgreSQL server at 127\.0\.0\.1:1 "):
        read_source("postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(SourceError, match=r"cannot reach MySQL/MariaDB server at 127\.0\.0\.1:1 "):
        read_source("mysql://root@127.0.0.1:1/test")


@pytest.mark.postgres
def test_bad_database_is_one_line_without_password(pg_scratch) -> None:
    url = pg_scratch.url.replace("postgres@", "postgres:hunter2@").replace("/test?", "/rg_no_such_db?")
    with pytest.raises(SourceError, match=r"cannot log in to postgresql://postgres:\*\*\*@") as info:
        read_source(url)
    assert "hunter2" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.mysql
def test_mysql_unknown_database(mysql_scratch) -> None:
    with pytest.raises(SourceError, match="Unknown database"):
        read_source(mysql_scratch.url + "_missing")
