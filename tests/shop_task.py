"""A tiny shop database built in memory (the real Database class) and a churn-like task on it;
the `shop_db` and `shop` fixtures of the model tests (imported by their conftest files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import Database
from relgraph.query.task import TaskTables
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo

N_CUSTOMERS = 60
START = pd.Timestamp("2023-01-01")


def shop_database(seed: int = 0, stores: bool = False) -> Database:
    """Customers (static) and their orders over a year, until each customer's random churn day:
    whether a customer orders next depends on how recently they ordered, not on their history's mean.
    ``stores``: each order also names one of three stores (a customer's current parent)."""
    rng = np.random.default_rng(seed)
    segment = np.where(np.arange(N_CUSTOMERS) % 2 == 0, "loyal", "casual")
    rows = []
    for c in range(N_CUSTOMERS):
        gap = 4 if segment[c] == "loyal" else 8
        churn_day = float(rng.uniform(60, 500))
        day = float(rng.integers(0, gap))
        while day < min(365.0, churn_day):
            rows.append((c, START + pd.Timedelta(days=day), float(rng.gamma(2.0, 20.0)), rng.choice(["web", "app"])))
            day += rng.exponential(gap)
    orders = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount", "channel"])
    orders.insert(0, "order_id", np.arange(len(orders)))
    customers = pd.DataFrame({"customer_id": np.arange(N_CUSTOMERS), "segment": segment,
                              "age": rng.integers(18, 80, N_CUSTOMERS).astype(float)})
    if stores:
        orders["store_id"] = rng.integers(0, 3, len(orders))
    tables = {"customers": pa.Table.from_pandas(customers, preserve_index=False),
              "orders": pa.Table.from_pandas(orders, preserve_index=False)}
    schema = Schema({
        "customers": TableSchema("customers", len(customers), [
            Column("customer_id", "int64", SType.KEY),
            Column("segment", "string", SType.CATEGORICAL),
            Column("age", "double", SType.NUMERICAL),
        ], primary_key="customer_id"),
        "orders": TableSchema("orders", len(orders), [
            Column("order_id", "int64", SType.KEY),
            Column("customer_id", "int64", SType.KEY),
            Column("ordered_at", "timestamp[ns]", SType.TIMESTAMP),
            Column("amount", "double", SType.NUMERICAL),
            Column("channel", "string", SType.CATEGORICAL),
        ], primary_key="order_id", foreign_keys=[ForeignKey("customer_id", "customers", "customer_id")],
            time=TimeInfo("ordered_at")),
    })
    if stores:
        tables["stores"] = pa.table({"store_id": [0, 1, 2], "size": [1.0, 2.0, 4.0]})
        schema.tables["stores"] = TableSchema("stores", 3, [Column("store_id", "int64", SType.KEY),
                                                            Column("size", "double", SType.NUMERICAL)], primary_key="store_id")
        schema["orders"].columns.append(Column("store_id", "int64", SType.KEY))
        schema["orders"].foreign_keys.append(ForeignKey("store_id", "stores", "store_id"))
    data = SourceData("memory://shop", tables, DeclaredKeys(), f"shop-{seed}")
    return Database(data, schema)


def with_late_letters(db: Database) -> Database:
    """``db`` plus a newsletter table whose last letter is sent 90 days after the last order: the
    database's latest row is not the target's (as Lahman's hall of fame runs past its batting)."""
    orders_end = pd.Timestamp(db.row_times("orders").max())
    letters = pa.table({"letter_id": [1, 2], "sent_at": [orders_end - pd.Timedelta(days=200), orders_end + pd.Timedelta(days=90)]})
    schema = Schema({**db.schema.tables, "letters": TableSchema("letters", 2, [
        Column("letter_id", "int64", SType.KEY), Column("sent_at", "timestamp[ns]", SType.TIMESTAMP)],
        primary_key="letter_id", time=TimeInfo("sent_at"))})
    return Database(SourceData("memory://shop-letters", {**db.tables, "letters": letters}, DeclaredKeys(), "shop-letters"), schema)


def shop_task(db: Database, window_days: int = 20) -> TaskTables:
    """Label = the customer orders in (t, t + window]; train/val/test by timestamp."""
    orders = db.tables["orders"].to_pandas()
    frames = []
    for t in pd.date_range(START + pd.Timedelta(days=60), periods=14, freq=f"{window_days}D"):
        in_window = orders[(orders.ordered_at > t) & (orders.ordered_at <= t + pd.Timedelta(days=window_days))]
        frames.append(pd.DataFrame({"customer_id": np.arange(N_CUSTOMERS), "timestamp": t,
                                    "label": np.isin(np.arange(N_CUSTOMERS), in_window.customer_id).astype(int)}))
    table = pd.concat(frames, ignore_index=True)
    ts = sorted(table.timestamp.unique())
    return TaskTables("binary", "customers", "customer_id",
                      train=table[table.timestamp < ts[-4]].reset_index(drop=True),
                      val=table[table.timestamp.isin(ts[-4:-2])].reset_index(drop=True),
                      test=table[table.timestamp.isin(ts[-2:])].reset_index(drop=True))


@pytest.fixture(scope="session")
def shop_db() -> Database:
    return shop_database()


@pytest.fixture(scope="session")
def shop() -> tuple[Database, TaskTables]:
    db = shop_database()
    return db, shop_task(db)
