"""SQLite and DuckDB files: read-only, declared keys from the catalog, awkward names and types."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from relgraph.connectors import read_source
from relgraph.errors import SourceError

SHOP_DDL = """
CREATE TABLE "order" (id INTEGER PRIMARY KEY, "group" TEXT, placed DATETIME, amount REAL);
CREATE TABLE "café" ("prix€" INTEGER, order_id INTEGER REFERENCES "order"(id), parent INTEGER REFERENCES "order");
CREATE TABLE pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b));
CREATE TABLE pair_refs (x INTEGER, y INTEGER, FOREIGN KEY (x, y) REFERENCES pairs(a, b));
INSERT INTO "order" VALUES (1, 'g1', '2024-01-02 03:04:05', 9.5), (2, NULL, '2024-02-01 00:00:00', NULL);
INSERT INTO "café" VALUES (10, 1, 2), (20, 2, NULL);
INSERT INTO pairs VALUES (1, 2);
"""


@pytest.fixture()
def shop_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as con:
        con.executescript(SHOP_DDL)
    con.close()
    return path


def test_sqlite_tables_keys_and_awkward_names(shop_sqlite: Path) -> None:
    data = read_source(f"sqlite://{shop_sqlite}")
    assert sorted(data.tables) == ["café", "order", "pair_refs", "pairs"]
    order = data.tables["order"]
    assert order.column("group").to_pylist() == ["g1", None]
    assert order.schema.field("placed").type == pa.timestamp("us")
    assert order.column("amount").to_pylist() == [9.5, None]
    assert data.tables["café"].column("prix€").to_pylist() == [10, 20]
    declared = data.declared
    assert declared.primary_keys == {"order": "id"}
    # "REFERENCES order" without a column means its primary key.
    assert sorted(declared.foreign_keys["café"]) == [("order_id", "order", "id"), ("parent", "order", "id")]
    assert declared.composite.primary_keys == {"pairs": ["a", "b"]}
    assert declared.composite.foreign_keys == {"pair_refs": [(["x", "y"], "pairs", ["a", "b"])]}
    assert data.source == f"sqlite:///{shop_sqlite.resolve()}"


def test_sqlite_dynamic_typing_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "loose.db"
    with sqlite3.connect(path) as con:
        con.executescript(
            """
            CREATE TABLE t (untyped, n INTEGER, when_ DATETIME, flag BOOLEAN, blob_ BLOB, empty_int INTEGER);
            INSERT INTO t VALUES (NULL, 1, '2020-01-02', 1, x'00ff', NULL);
            INSERT INTO t VALUES (5, 2.5, '2020-01-02 03:04:05.123456', 0, NULL, NULL);
            INSERT INTO t VALUES ('x', NULL, NULL, NULL, x'01', NULL);
            """
        )
    con.close()
    table = read_source(f"sqlite://{path}").tables["t"]
    assert table.column("untyped").to_pylist() == [None, "5", "x"]  # mixed storage classes -> text
    assert table.column("n").to_pylist() == [1.0, 2.5, None]  # integers and reals -> float64
    assert table.schema.field("when_").type == pa.timestamp("us")
    assert table.column("flag").to_pylist() == [True, False, None]
    assert table.column("blob_").to_pylist() == [b"\x00\xff", None, b"\x01"]
    assert table.schema.field("empty_int").type == pa.int64()


def test_sqlite_batches_of_different_inferred_types_unify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relgraph.connectors.sqlite.FETCH_ROWS", 2)  # many small batches
    path = tmp_path / "batches.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (num, txt, late_text, never INTEGER)")
        con.executemany(
            "INSERT INTO t VALUES (?, ?, ?, NULL)",
            [
                (None, None, 1),
                (None, None, 2),
                (1, "a", 3),
                (2, None, 4),
                (2.5, "b", "x"),
                (None, None, None),
            ],
        )
    con.close()
    table = read_source(f"sqlite://{path}").tables["t"]
    assert table.column("num").type == pa.float64()
    assert table.column("num").to_pylist() == [None, None, 1.0, 2.0, 2.5, None]
    assert table.column("txt").to_pylist() == [None, None, "a", None, "b", None]
    assert table.column("late_text").to_pylist() == ["1", "2", "3", "4", "x", None]  # profiled: as text
    assert table.column("never").type == pa.int64() and table.column("never").null_count == 6


def test_sqlite_file_is_never_written(shop_sqlite: Path) -> None:
    before = shop_sqlite.read_bytes(), shop_sqlite.stat().st_mtime_ns
    listing = sorted(p.name for p in shop_sqlite.parent.iterdir())
    read_source(f"sqlite://{shop_sqlite}")
    read_source(str(shop_sqlite))  # a bare path with SQLite's header works too
    assert (shop_sqlite.read_bytes(), shop_sqlite.stat().st_mtime_ns) == before
    assert sorted(p.name for p in shop_sqlite.parent.iterdir()) == listing  # no journal left behind


def test_sqlite_wal_database_is_not_checkpointed(shop_sqlite: Path) -> None:
    with sqlite3.connect(shop_sqlite) as con:
        con.execute("PRAGMA journal_mode=WAL")
    con.close()
    before = shop_sqlite.read_bytes(), shop_sqlite.stat().st_mtime_ns
    # SQLite itself may add its -wal/-shm lock files for a WAL database; the database file stays as is.
    assert "order" in read_source(f"sqlite://{shop_sqlite}").tables
    assert (shop_sqlite.read_bytes(), shop_sqlite.stat().st_mtime_ns) == before


def test_sqlite_relative_url(shop_sqlite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(shop_sqlite.parent)
    assert "order" in read_source("sqlite:///shop.db").tables


def test_sqlite_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(SourceError, match=r"empty\.db is empty \(no tables\)"):
        read_source(f"sqlite://{path}")


def test_sqlite_missing_and_not_sqlite(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"SQLite file .*nope\.db does not exist"):
        read_source(f"sqlite://{tmp_path / 'nope.db'}")
    assert not (tmp_path / "nope.db").exists()
    bogus = tmp_path / "bogus.db"
    bogus.write_text("hello")
    with pytest.raises(SourceError, match=r"bogus\.db is not an SQLite database"):
        read_source(f"sqlite://{bogus}")


def test_sqlite_and_duckdb_fingerprint_follow_content(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (a INTEGER)")
        con.execute("INSERT INTO t VALUES (1)")
    con.close()
    first = read_source(f"sqlite://{path}").fingerprint
    assert read_source(f"sqlite://{path}").fingerprint == first
    with sqlite3.connect(path) as con:
        con.execute("UPDATE t SET a = 2")
    con.close()
    assert read_source(f"sqlite://{path}").fingerprint != first


@pytest.fixture()
def shop_duckdb(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        """
        CREATE TABLE "order" (id INTEGER PRIMARY KEY, "group" VARCHAR, placed TIMESTAMP, amount DECIMAL(10, 2));
        CREATE TABLE "café" ("prix€" INTEGER, order_id INTEGER REFERENCES "order"(id));
        CREATE TABLE pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b));
        CREATE TABLE pair_refs (x INTEGER, y INTEGER, FOREIGN KEY (x, y) REFERENCES pairs(a, b));
        CREATE SCHEMA other;
        CREATE TABLE other.elsewhere (k INTEGER PRIMARY KEY);
        INSERT INTO "order" VALUES (1, 'g1', '2024-01-02 03:04:05', 9.5), (2, NULL, NULL, NULL);
        INSERT INTO "café" VALUES (10, 1), (20, 2);
        """
    )
    con.close()
    return path


def test_duckdb_tables_keys_and_types(shop_duckdb: Path) -> None:
    before = shop_duckdb.read_bytes(), shop_duckdb.stat().st_mtime_ns
    data = read_source(f"duckdb://{shop_duckdb}")
    assert (shop_duckdb.read_bytes(), shop_duckdb.stat().st_mtime_ns) == before
    assert sorted(data.tables) == ["café", "order", "pair_refs", "pairs"]
    order = data.tables["order"]
    assert order.schema.field("placed").type == pa.timestamp("us")
    assert order.column("amount").to_pylist() == [9.5, None]  # DECIMAL -> float64
    assert data.declared.primary_keys == {"order": "id"}
    assert data.declared.foreign_keys == {"café": [("order_id", "order", "id")]}
    assert data.declared.composite.primary_keys == {"pairs": ["a", "b"]}
    assert data.declared.composite.foreign_keys == {"pair_refs": [(["x", "y"], "pairs", ["a", "b"])]}
    other = read_source(f"duckdb://{shop_duckdb}?schema=other")
    assert list(other.tables) == ["elsewhere"] and other.declared.primary_keys == {"elsewhere": "k"}


def test_duckdb_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"DuckDB file .*nope\.duckdb does not exist"):
        read_source(f"duckdb://{tmp_path / 'nope.duckdb'}")
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(SourceError, match=r"empty\.duckdb has no tables in schema 'main'"):
        read_source(f"duckdb://{empty}")
