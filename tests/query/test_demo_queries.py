"""The issue's demo-shop tasks (churn, lifetime value, next products) on the synthetic demo database."""

from __future__ import annotations

import pandas as pd
import pytest

from relgraph.database import Database, connect
from relgraph.demo.generate import make_demo_database
from relgraph.query import build_task


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Database:
    out = tmp_path_factory.mktemp("demo")
    path = make_demo_database(out / "demo.db", seed=0, scale=0.1)
    return connect(f"sqlite:///{path}")


def _orders(demo: Database) -> pd.DataFrame:
    return (
        demo.tables["orders"]
        .select(["customer_id", "ordered_at"])
        .to_pandas()
        .assign(time=demo.row_times("orders"))
    )


def test_churn_of_recently_active_customers(demo: Database) -> None:
    text = (
        "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
        "WHERE COUNT(orders.*, -90, 0, days) > 0"
    )
    task = build_task(demo, text)
    assert task.task_type == "binary" and min(len(task.train), len(task.val), len(task.test)) > 0
    orders = _orders(demo)
    for row in task.test.itertuples(index=False):
        mine = orders[orders["customer_id"] == row.customer_id]["time"]
        assert ((mine > row.timestamp - pd.Timedelta(days=90)) & (mine <= row.timestamp)).any()
        assert row.label == int(
            not ((mine > row.timestamp) & (mine <= row.timestamp + pd.Timedelta(days=30))).any()
        )
    assert 0 < task.train["label"].mean() < 1


def test_lifetime_value_and_next_products(demo: Database) -> None:
    value = build_task(
        demo, "PREDICT SUM(order_items.price, 0, 90, days) FOR EACH customers.customer_id"
    )
    assert (
        value.task_type == "regression"
        and (value.train["label"] >= 0).all()
        and (value.train["label"] > 0).any()
    )
    ranking = build_task(
        demo,
        "PREDICT LIST_DISTINCT(order_items.product_id, 0, 30, days) RANK TOP 10 FOR EACH customers.customer_id",
    )
    assert (ranking.task_type, ranking.target_table, ranking.k) == ("ranking", "products", 10)
    products = set(demo.tables["products"].column("product_id").to_pylist())
    for ids in ranking.test["label"]:
        assert ids == sorted(set(ids)) and ids and set(ids) <= products
