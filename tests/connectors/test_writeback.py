"""``write_table`` for real on every target: SQLite, DuckDB, a Parquet folder, PostgreSQL, MariaDB.

Each target starts with one user table (``customers``); every test reads back through the
engine's own client (sqlite3 / duckdb / pyarrow / psycopg2 / pymysql), never through relgraph.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from relgraph.cli.main import main
from relgraph.connectors import read_source
from relgraph.connectors.writeback import write_table
from relgraph.demo.generate import make_demo_database
from relgraph.errors import SourceError

CUSTOMERS = pd.DataFrame({"customer_id": [1, 2], "name": ["Ann", "Bob"]})
# Names that need quoting: non-ASCII, a reserved word, and a '%' that DB-API drivers read as a placeholder.
NAMES = ["prédictions", "order", 'top 10% "risk"']


def regression_frame() -> pd.DataFrame:
    """Like ``relgraph predict`` output of a regression run: key, a pre-1970 timestamp, a float with a NaN."""
    return pd.DataFrame({
        "customer_id": np.array([1, 2, 3], dtype="int64"),
        "timestamp": pd.to_datetime(["1965-05-30 14:00:00"] * 3),
        "prediction": [0.25, np.nan, -3.5],
    })


def ranking_frame() -> pd.DataFrame:
    """Like ranking output: top-k target ids (NumPy and Python ints, an empty row) and their scores."""
    return pd.DataFrame({
        "customer_id": np.array([1, 2, 3], dtype="int64"),
        "timestamp": pd.to_datetime(["2024-06-01 12:30:00"] * 3),
        "prediction": [[np.int64(7), np.int64(3)], [5], []],
        "score": [[0.9, 0.5], [0.75], []],
    })


def _expected(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as plain Python values: NaN -> None, timestamps -> datetime, lists of ints / floats."""
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for col, v in record.items():
            if isinstance(v, list):
                row[col] = [x.item() if hasattr(x, "item") else x for x in v]
            elif isinstance(v, pd.Timestamp):
                row[col] = v.to_pydatetime()
            elif isinstance(v, float) and np.isnan(v):
                row[col] = None
            else:
                row[col] = v.item() if hasattr(v, "item") else v
        rows.append(row)
    return rows


def _normalise(frame: pd.DataFrame, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Read-back rows as :func:`_expected` gives them: list columns may come back as JSON text, SQLite
    timestamps as ISO text, NumPy arrays from Arrow as lists."""
    out = []
    for row in rows:
        norm = {}
        for col, v in row.items():
            if isinstance(v, str) and frame[col].dtype.kind == "M":
                v = datetime.fromisoformat(v)
            elif isinstance(v, str) and frame[col].dtype.kind == "O" and isinstance(frame[col].iloc[0], list):
                v = json.loads(v)
            elif isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, float) and np.isnan(v):
                v = None
            norm[col] = v
        out.append(norm)
    return out


def _q(name: str, quote: str = '"') -> str:
    return quote + name.replace(quote, quote * 2) + quote


@dataclass
class Target:
    """A source holding ``customers``: ``tables()`` lists its tables, ``read(name)`` its rows by first column."""

    kind: str
    source: str
    tables: Callable[[], set[str]]
    read: Callable[[str], list[dict[str, Any]]]


def _sqlite_target(tmp_path: Path) -> Target:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as con:
        CUSTOMERS.to_sql("customers", con, index=False)
    con.close()

    def tables() -> set[str]:
        with sqlite3.connect(path) as con:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        con.close()
        return names

    def read(name: str) -> list[dict[str, Any]]:
        con = sqlite3.connect(path)
        try:
            cur = con.execute(f"SELECT * FROM {_q(name)} ORDER BY 1")
            return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
        finally:
            con.close()

    return Target("sqlite", f"sqlite:///{path}", tables, read)


def _duckdb_target(tmp_path: Path) -> Target:
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("customers_frame", CUSTOMERS)
        con.execute("CREATE TABLE customers AS SELECT * FROM customers_frame")

    def tables() -> set[str]:
        with duckdb.connect(str(path), read_only=True) as con:
            return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}

    def read(name: str) -> list[dict[str, Any]]:
        with duckdb.connect(str(path), read_only=True) as con:
            cur = con.execute(f"SELECT * FROM {_q(name)} ORDER BY 1")
            return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]

    return Target("duckdb", f"duckdb:///{path}", tables, read)


def _parquet_target(tmp_path: Path) -> Target:
    folder = tmp_path / "shop"
    folder.mkdir()
    CUSTOMERS.to_parquet(folder / "customers.parquet", index=False)

    def tables() -> set[str]:
        return {p.name for p in folder.iterdir()}  # every file: nothing else may appear

    def read(name: str) -> list[dict[str, Any]]:
        rows = pq.read_table(folder / f"{name}.parquet").to_pylist()
        return sorted(rows, key=lambda r: next(iter(r.values())))

    return Target("parquet", str(folder), tables, read)


def _server_target(kind: str, scratch: Any) -> Target:
    con = scratch.connection
    if kind == "postgres":
        schema = parse_qs(urlsplit(scratch.url).query)["schema"][0]
        listing = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
        where: tuple = (schema,)
    else:
        listing = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        where = ()

    def tables() -> set[str]:
        with con.cursor() as cur:
            cur.execute(listing, where)
            return {r[0] for r in cur.fetchall()}

    def read(name: str) -> list[dict[str, Any]]:
        with con.cursor() as cur:
            cur.execute(f"SELECT * FROM {scratch.qualifier}{scratch.quote(name)} ORDER BY 1")
            return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]

    scratch.load({"customers": CUSTOMERS})
    return Target(kind, scratch.url, tables, read)


@pytest.fixture(params=[
    "sqlite", "duckdb", "parquet",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "sqlite":
        yield _sqlite_target(tmp_path)
    elif request.param == "duckdb":
        yield _duckdb_target(tmp_path)
    elif request.param == "parquet":
        yield _parquet_target(tmp_path)
    else:
        scratch = request.getfixturevalue("pg_scratch" if request.param == "postgres" else "mysql_scratch")
        yield _server_target(request.param, scratch)


def _table_names(target: Target, *names: str) -> set[str]:
    """What ``target.tables()`` should list for tables ``names`` (file names for the Parquet folder)."""
    return {f"{n}.parquet" for n in names} if target.kind == "parquet" else set(names)


@pytest.mark.parametrize("name", NAMES)
def test_creates_a_new_table_with_the_rows(target: Target, name: str) -> None:
    customers = target.read("customers")
    frame = regression_frame()
    where = write_table(target.source, name, frame)
    assert name in where
    got = target.read(name)
    assert [list(r) for r in got] == [list(frame.columns)] * len(frame)
    assert _normalise(frame, got) == _expected(frame)
    assert target.tables() == _table_names(target, "customers", name)
    assert target.read("customers") == customers


def test_ranking_lists_round_trip(target: Target) -> None:
    frame = ranking_frame()
    write_table(target.source, "order", frame)
    assert _normalise(frame, target.read("order")) == _expected(frame)


def test_existing_name_is_refused_and_left_unchanged(target: Target) -> None:
    write_table(target.source, "prédictions", regression_frame())
    before = target.read("prédictions")
    with pytest.raises(SourceError) as err:
        write_table(target.source, "prédictions", ranking_frame())
    message = str(err.value)
    assert "\n" not in message and "prédictions" in message and "already exists" in message
    assert target.read("prédictions") == before
    assert target.tables() == _table_names(target, "customers", "prédictions")
    # The user's own tables are refused the same way.
    with pytest.raises(SourceError, match="already exists"):
        write_table(target.source, "customers", regression_frame())


def test_a_name_differing_only_in_case_is_a_new_table_or_refused(target: Target) -> None:
    """SQLite, DuckDB and MariaDB's information_schema compare names without case; PostgreSQL and
    files do not: either way the answer is a new table or a SourceError, never a driver error."""
    write_table(target.source, "order", regression_frame())
    before = target.read("order")
    try:
        write_table(target.source, "ORDER", ranking_frame())
    except SourceError as err:
        assert "\n" not in str(err)
        assert target.tables() == _table_names(target, "customers", "order")
    else:
        assert target.tables() == _table_names(target, "customers", "order", "ORDER")
    assert target.read("order") == before


@pytest.mark.postgres
def test_postgres_table_lands_in_the_url_schema(pg_scratch: Any) -> None:
    schema = parse_qs(urlsplit(pg_scratch.url).query)["schema"][0]
    # libpq parameters next to relgraph's schema= reach the server.
    url = f"{pg_scratch.url}&application_name=rg_writeback"
    assert write_table(url, "order", regression_frame()) == f"{schema}.order"
    with pg_scratch.connection.cursor() as cur:
        cur.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'order'")
        assert [r[0] for r in cur.fetchall()] == [schema]  # not public
        cur.execute('SELECT data_type FROM information_schema.columns WHERE table_schema = %s '
                    "AND table_name = 'order' ORDER BY ordinal_position", (schema,))
        assert [r[0] for r in cur.fetchall()] == ["bigint", "timestamp without time zone", "double precision"]


@pytest.mark.postgres
def test_postgres_missing_schema_is_one_line(pg_scratch: Any) -> None:
    url = pg_scratch.url.split("?", 1)[0] + "?schema=rg_no_such_schema"
    with pytest.raises(SourceError) as err:
        write_table(url, "preds", regression_frame())
    assert "\n" not in str(err.value) and "rg_no_such_schema" in str(err.value)


@pytest.mark.mysql
def test_mysql_missing_database_is_one_line(mysql_scratch: Any) -> None:
    url = mysql_scratch.url.rsplit("/", 1)[0] + "/rg_no_such_database"
    with pytest.raises(SourceError) as err:
        write_table(url, "preds", regression_frame())
    assert "\n" not in str(err.value)


@pytest.mark.mysql
def test_mysql_failed_insert_leaves_no_table(mysql_scratch: Any) -> None:
    """MariaDB cannot store an infinite DOUBLE; its DDL commits at once, so the new table is dropped again."""
    target = _server_target("mysql", mysql_scratch)
    frame = regression_frame().assign(prediction=[0.5, np.inf, 1.0])
    with pytest.raises(SourceError) as err:
        write_table(target.source, "preds", frame)
    assert "\n" not in str(err.value) and "preds" in str(err.value)
    assert target.tables() == {"customers"}


def test_bare_sqlite_file_path_is_a_target(tmp_path: Path) -> None:
    target = _sqlite_target(tmp_path)
    path = target.source.removeprefix("sqlite:///")
    write_table(path, "preds", regression_frame())
    assert _normalise(regression_frame(), target.read("preds")) == _expected(regression_frame())


@pytest.mark.parametrize("existing", ["order.csv", "order.tsv", "order.csv.gz", "order.pq", "order.PARQUET"])
def test_folder_refuses_a_name_any_data_file_already_has(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_bytes(b"")
    with pytest.raises(SourceError, match="already exists"):
        write_table(str(tmp_path), "order", regression_frame())
    assert [p.name for p in tmp_path.iterdir()] == [existing]


@pytest.mark.parametrize("name", ["../escaped", "sub/preds", ".."])
def test_folder_refuses_names_that_are_paths(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    with pytest.raises(SourceError):
        write_table(str(folder), name, regression_frame())
    assert [p.name for p in tmp_path.iterdir()] == ["shop"] and not any(folder.iterdir())


def test_relbench_folder_gets_the_table_in_its_db_folder(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    CUSTOMERS.to_parquet(tmp_path / "db" / "customers.parquet", index=False)
    write_table(str(tmp_path), "preds", regression_frame())
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == ["customers.parquet", "preds.parquet"]
    assert set(read_source(str(tmp_path)).tables) == {"customers", "preds"}


CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
FAST = ["--epochs", "1", "--hidden", "8", "--fanouts", "2", "--threads", "1", "--quiet"]


@pytest.mark.slow
@pytest.mark.postgres
def test_cli_predict_writes_a_table_into_the_postgres_schema(pg_scratch: Any, tmp_path: Path, capsys) -> None:
    """Train and predict on a PostgreSQL schema (slow: ~10 s, mostly the GNN's training run)."""
    shop = read_source(f"sqlite:///{make_demo_database(tmp_path / 'demo.db', seed=0, scale=0.05)}")
    pg_scratch.load(shop.tables, primary_keys=shop.declared.primary_keys, foreign_keys=shop.declared.foreign_keys)
    run_dir = tmp_path / "run"
    assert main(["train", pg_scratch.url, "--query", CHURN, "--out", str(run_dir), "--model", "gnn", *FAST]) == 0
    capsys.readouterr()
    assert main(["predict", pg_scratch.url, "--model", str(run_dir), "--write-table", "churn risk"]) == 0
    assert "churn risk" in capsys.readouterr().err
    with pg_scratch.connection.cursor() as cur:
        cur.execute(f'SELECT customer_id, probability FROM {pg_scratch.qualifier}"churn risk"')
        rows = cur.fetchall()
    assert rows and all(0 <= p <= 1 for _, p in rows)
    assert len({c for c, _ in rows}) == len(rows)
    # A second run is refused with one line (exit 1), because the table exists, and it keeps its rows.
    assert main(["predict", pg_scratch.url, "--model", str(run_dir), "--write-table", "churn risk"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err
    with pg_scratch.connection.cursor() as cur:
        cur.execute(f'SELECT COUNT(*) FROM {pg_scratch.qualifier}"churn risk"')
        assert cur.fetchone()[0] == len(rows)
