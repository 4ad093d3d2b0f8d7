"""Tiny shop databases for the baselines tests, built in memory.

customers (static) <- orders (own time ``ts``) -> stores (static); orders <- items (time
inherited from orders); orders <- reviews (own time, may predate its order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import Database
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo

N, C, K, T = SType.NUMERICAL, SType.CATEGORICAL, SType.KEY, SType.TIMESTAMP


def _table(name: str, df: pd.DataFrame, stypes: dict[str, SType], pk: str, fks: list[ForeignKey], time: TimeInfo | None) -> tuple[pa.Table, TableSchema]:
    table = pa.Table.from_pandas(df, preserve_index=False)
    cols = [Column(f.name, str(f.type), stypes[f.name]) for f in table.schema]
    return table, TableSchema(name, table.num_rows, cols, pk, foreign_keys=fks, time=time)


def make_shop(customers: pd.DataFrame, stores: pd.DataFrame, orders: pd.DataFrame, items: pd.DataFrame, reviews: pd.DataFrame) -> Database:
    """A Database over the five frames (columns as in :func:`small_shop`)."""
    specs = {
        "customers": (customers, {"customer_id": K, "age": N, "segment": C, "signup": T}, "customer_id", [], None),
        "stores": (stores, {"store_id": K, "size": N}, "store_id", [], None),
        "orders": (
            orders,
            {"order_id": K, "customer_id": K, "store_id": K, "amount": N, "status": C, "ts": T},
            "order_id",
            [ForeignKey("customer_id", "customers", "customer_id"), ForeignKey("store_id", "stores", "store_id")],
            TimeInfo("ts"),
        ),
        "items": (
            items,
            {"item_id": K, "order_id": K, "price": N},
            "item_id",
            [ForeignKey("order_id", "orders", "order_id")],
            TimeInfo("ts", inherited_via="order_id", parent_table="orders"),
        ),
        "reviews": (
            reviews,
            {"review_id": K, "order_id": K, "stars": N, "ts": T},
            "review_id",
            [ForeignKey("order_id", "orders", "order_id")],
            TimeInfo("ts"),
        ),
    }
    tables, schemas = {}, {}
    for name, (df, stypes, pk, fks, time) in specs.items():
        tables[name], schemas[name] = _table(name, df, stypes, pk, fks, time)
    return Database(SourceData("memory://shop", tables, DeclaredKeys(), "shop"), Schema(schemas))


def small_shop() -> Database:
    """Two customers, values chosen so that features can be worked out by hand."""
    day = pd.Timestamp("2024-01-01")
    d = lambda n: day + pd.Timedelta(days=n)  # noqa: E731
    customers = pd.DataFrame({"customer_id": [1, 2], "age": [30.0, 40.0], "segment": ["a", "b"],
                              "signup": [d(-100), d(-10)]})
    stores = pd.DataFrame({"store_id": [10, 20], "size": [100.0, 300.0]})
    orders = pd.DataFrame({
        "order_id": [101, 102, 103, 104, 105, 201],
        "customer_id": [1, 1, 1, 1, 1, 2],
        "store_id": [10, 20, 10, 10, 20, 20],
        "amount": [10.0, 20.0, 60.0, 30.0, 1000.0, 5.0],
        "status": ["ok", "ok", "late", "ok", "ok", "late"],
        "ts": [d(0), d(40), d(50), d(55), d(100), d(1)],
    })
    items = pd.DataFrame({"item_id": [1, 2, 3, 4], "order_id": [101, 101, 103, 105], "price": [4.0, 6.0, 60.0, 999.0]})
    reviews = pd.DataFrame({"review_id": [1, 2], "order_id": [102, 103], "stars": [5.0, 1.0], "ts": [d(45), d(70)]})
    return make_shop(customers, stores, orders, items, reviews)


def random_shop(rng: np.random.Generator) -> Database:
    """Random customers / orders / items / reviews, with ties in time and missing values."""
    n_cust, n_orders = int(rng.integers(1, 5)), int(rng.integers(1, 30))
    day = pd.Timestamp("2024-01-01")
    customers = pd.DataFrame({
        "customer_id": np.arange(n_cust), "age": rng.normal(40, 10, n_cust),
        "segment": rng.choice(["a", "b", "c"], n_cust), "signup": day - pd.to_timedelta(rng.integers(0, 400, n_cust), "D"),
    })
    stores = pd.DataFrame({"store_id": [0, 1], "size": [1.0, 2.0]})
    amount = rng.exponential(20, n_orders)
    amount[rng.random(n_orders) < 0.2] = np.nan
    orders = pd.DataFrame({
        "order_id": np.arange(n_orders), "customer_id": rng.integers(0, n_cust, n_orders),
        "store_id": rng.integers(0, 2, n_orders), "amount": amount,
        "status": rng.choice(["ok", "late", "lost"], n_orders, p=[0.6, 0.3, 0.1]),
        # Whole days only: ties between orders of one customer are common.
        "ts": day + pd.to_timedelta(rng.integers(0, 200, n_orders), "D"),
    })
    n_items = int(rng.integers(0, 40))
    items = pd.DataFrame({"item_id": np.arange(n_items), "order_id": rng.integers(0, n_orders, n_items),
                          "price": rng.exponential(5, n_items)})
    n_rev = int(rng.integers(0, 15))
    reviews = pd.DataFrame({"review_id": np.arange(n_rev), "order_id": rng.integers(0, n_orders, n_rev),
                            "stars": rng.integers(1, 6, n_rev).astype(float),
                            "ts": day + pd.to_timedelta(rng.integers(0, 220, n_rev), "D")})
    return make_shop(customers, stores, orders, items, reviews)

