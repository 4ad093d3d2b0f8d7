"""Helpers for query tests: tiny databases with hand-written schemas (no inference involved)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import strategies as st

from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import Database
from relgraph.query.ast import And, Not, Or
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo


def make_db(
    tables: dict[str, pd.DataFrame],
    primary_keys: dict[str, str],
    foreign_keys: dict[str, list[tuple[str, str, str]]] | None = None,
    time_columns: dict[str, str] | None = None,
    categorical: tuple[tuple[str, str], ...] = (),
) -> Database:
    """A Database over in-memory frames with a hand-written schema (no inference involved).

    ``categorical``: ``(table, column)`` pairs whose stype is CATEGORICAL even when numeric.
    """
    foreign_keys = foreign_keys or {}
    time_columns = time_columns or {}
    arrow = {name: pa.Table.from_pandas(frame, preserve_index=False) for name, frame in tables.items()}
    schema_tables = {}
    for name, table in arrow.items():
        keys = {primary_keys.get(name)} | {fk[0] for fk in foreign_keys.get(name, [])}
        columns = []
        for field in table.schema:
            if field.name in keys:
                stype = SType.KEY
            elif field.name == time_columns.get(name):
                stype = SType.TIMESTAMP
            elif (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)) and (
                (name, field.name) not in categorical
            ):
                stype = SType.NUMERICAL
            else:
                stype = SType.CATEGORICAL
            columns.append(Column(field.name, str(field.type), stype))
        schema_tables[name] = TableSchema(
            name=name,
            rows=table.num_rows,
            columns=columns,
            primary_key=primary_keys.get(name),
            foreign_keys=[ForeignKey(c, t, rc) for c, t, rc in foreign_keys.get(name, [])],
            time=TimeInfo(time_columns[name]) if name in time_columns else None,
        )
    declared = DeclaredKeys(dict(primary_keys), dict(foreign_keys), dict(time_columns))
    return Database(SourceData("memory://test", arrow, declared, "test"), Schema(schema_tables))


T0 = pd.Timestamp("2024-01-01")


def day(n: float) -> pd.Timestamp:
    """``T0`` + n days."""
    return T0 + pd.Timedelta(days=n)


def shop_tables() -> dict[str, pd.DataFrame]:
    """A tiny shop: customers (timed: signup), products, orders (timed), order_items (no time of their own)."""
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "segment": ["gold", "basic", "basic", None],
            "signup": [day(-100), day(-50), day(5), day(-10)],
        }
    )
    products = pd.DataFrame({"product_id": [10, 11, 12], "name": ["bike", "bell", "lamp"]})
    orders = pd.DataFrame(
        {
            "order_id": [100, 101, 102, 103, 104, 105],
            "customer_id": [1, 1, 2, 2, 3, 1],
            "ordered_at": [day(-60), day(0), day(10), day(30), day(20), day(40)],
            "status": ["ok", "ok", "returned", "ok", "ok", None],
        }
    )
    order_items = pd.DataFrame(
        {
            "item_id": [1000, 1001, 1002, 1003, 1004, 1005, 1006],
            "order_id": [100, 101, 102, 102, 103, 104, 105],
            "product_id": [10, 11, 11, 12, 12, 10, 12],
            "price": [500.0, 20.0, 25.0, 40.0, None, 450.0, 30.0],
            "ordered_at": [day(-60), day(0), day(10), day(10), day(30), day(20), day(40)],
        }
    )
    return {"customers": customers, "products": products, "orders": orders, "order_items": order_items}


SHOP_KEYS = {
    "customers": "customer_id",
    "products": "product_id",
    "orders": "order_id",
    "order_items": "item_id",
}
SHOP_FKS = {
    "orders": [("customer_id", "customers", "customer_id")],
    "order_items": [("order_id", "orders", "order_id"), ("product_id", "products", "product_id")],
}
SHOP_TIMES = {"customers": "signup", "orders": "ordered_at", "order_items": "ordered_at"}


def combined_conditions(atoms: st.SearchStrategy, max_children: int, max_leaves: int) -> st.SearchStrategy:
    """Random condition trees over ``atoms``: NOT, and AND / OR of 2..max_children parts."""
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.builds(Not, inner),
            st.builds(And, st.lists(inner, min_size=2, max_size=max_children).map(tuple)),
            st.builds(Or, st.lists(inner, min_size=2, max_size=max_children).map(tuple)),
        ),
        max_leaves=max_leaves,
    )


ROLES = ("winner_id", "loser_id")
PLAYERS = [1, 2, 3, 4, 5]


def matches_frame(rows: list[tuple[int | None, int | None, int, float]]) -> pd.DataFrame:
    """``(winner, loser, day, score)`` rows as a matches table."""
    return pd.DataFrame(
        {
            "match_id": np.arange(len(rows), dtype="int64") + 100,
            "winner_id": pd.array([r[0] for r in rows], dtype="Int64"),
            "loser_id": pd.array([r[1] for r in rows], dtype="Int64"),
            "played_at": pd.Series([day(r[2]) for r in rows], dtype="datetime64[ns]"),
            "score": [float(r[3]) for r in rows],
        }
    )


def matches_db(matches: pd.DataFrame) -> Database:
    """players, matches naming them in two roles (winner_id, loser_id), and bets on matches."""
    players = pd.DataFrame({"player_id": PLAYERS, "hand": ["L", "R", "R", "L", "R"]})
    bets = pd.DataFrame(
        {
            "bet_id": np.arange(len(matches), dtype="int64"),
            "match_id": matches["match_id"].to_numpy(),
            "placed_at": matches["played_at"].to_numpy(),
        }
    )
    return make_db(
        {"players": players, "matches": matches, "bets": bets},
        {"players": "player_id", "matches": "match_id", "bets": "bet_id"},
        {
            "matches": [("winner_id", "players", "player_id"), ("loser_id", "players", "player_id")],
            "bets": [("match_id", "matches", "match_id")],
        },
        {"matches": "played_at", "bets": "placed_at"},
    )


# A self-match (3 vs 3), a match without a winner, one on the window edge (day 30), a later one.
FIXED_MATCHES = [
    (1, 2, 1, 6.0),
    (2, 1, 5, 7.0),
    (3, 3, 10, 1.0),
    (None, 4, 12, 2.0),
    (1, 4, 30, 3.0),
    (2, 5, 45, 4.0),
    (5, 1, 70, 5.0),
]
