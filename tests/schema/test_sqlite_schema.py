"""Schemas of real SQLite files: declared keys from the catalog, their validation, odd names."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

import relgraph
from relgraph.errors import SchemaError


def make_db(path: Path, statements: list[str]) -> str:
    con = sqlite3.connect(path)
    with con:
        for statement in statements:
            con.execute(statement)
    con.close()
    return f"sqlite:///{path}"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_declared_keys_reserved_words_and_non_ascii_names(tmp_path):
    url = make_db(
        tmp_path / "shop.db",
        [
            'CREATE TABLE "order" (order_id INTEGER PRIMARY KEY, "group" TEXT, created TEXT)',
            'CREATE TABLE "größe" ("größe_id" INTEGER PRIMARY KEY, order_id INTEGER REFERENCES "order"(order_id), '
            'parent_id INTEGER REFERENCES "größe"("größe_id"))',
            "INSERT INTO \"order\" VALUES (1, 'a', '2024-01-01 10:00:00'), (2, 'b', '2024-01-02 11:00:00')",
            'INSERT INTO "größe" VALUES (1, 1, NULL), (2, 2, 1), (3, 2, 1)',
        ],
    )
    db = relgraph.connect(url)
    schema = db.schema
    assert schema["order"].primary_key == "order_id" and not schema["order"].primary_key_inferred
    edges = {(child, fk.column, fk.references_table, fk.inferred) for child, fk in schema.edges()}
    assert edges == {("größe", "order_id", "order", False), ("größe", "parent_id", "größe", False)}
    assert schema["order"].time.column == "created"
    assert schema["größe"].time.inherited_via == "order_id"  # the self-reference is not a time parent
    assert db.duckdb().sql('SELECT count(*) FROM "größe" WHERE __rg_time IS NOT NULL').fetchall() == [(3,)]


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (
            [
                "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY)",
                "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer(customer_id))",
            ],
            r"^orders\.customer_id: references missing table 'customer' \(did you mean 'customers'\?\)$",
        ),
        (
            [
                "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY)",
                "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(cust_id))",
            ],
            r"^orders\.customer_id: references missing column customers\.cust_id",
        ),
        (
            [
                "CREATE TABLE tags (tag TEXT PRIMARY KEY, n INTEGER)",
                "INSERT INTO tags VALUES ('a', 1), (NULL, 2)",
            ],
            r"^tags\.tag: primary key has 1 NULL values",
        ),
    ],
)
def test_bad_catalogs_fail_in_one_line_and_stay_unmodified(tmp_path, statements, message):
    path = tmp_path / "bad.db"
    url = make_db(path, statements)
    before = digest(path)
    with pytest.raises(SchemaError, match=message):
        relgraph.connect(url)
    assert digest(path) == before
