"""Validation errors: one clear message each, naming what is wrong and what to do."""

from __future__ import annotations

import pytest

from relgraph.database import Database
from relgraph.errors import QueryError
from relgraph.query import parse, validate


def _error(db: Database, text: str) -> str:
    with pytest.raises(QueryError) as info:
        validate(parse(text), db.schema)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "PREDICT COUNT(order.*, 0, 30, days) > 0 FOR EACH customers.customer_id",
            "unknown table 'order': did you mean orders",
        ),
        ("PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH customer.customer_id", "did you mean customers"),
        (
            "PREDICT SUM(order_items.prize, 0, 30, days) FOR EACH customers.customer_id",
            "unknown column 'prize' in table 'order_items': did you mean price",
        ),
        (
            "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH customers.customerid",
            "did you mean customer_id",
        ),
        (
            "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH customers.segment",
            "primary key of customers is customer_id",
        ),
        (
            "PREDICT COUNT(customers.*, 0, 30, days) > 0 FOR EACH orders.order_id",
            "no foreign-key path from customers to the entity table orders",
        ),
        (
            "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH products.product_id",
            "no foreign-key path from orders to the entity table products; tables that reach it: order_items",
        ),
        (
            "PREDICT AVG(orders.status, 0, 30, days) FOR EACH customers.customer_id",
            "AVG needs a numeric column but orders.status is ",
        ),
        ("PREDICT SUM(orders.*, 0, 30, days) FOR EACH customers.customer_id", "SUM(orders.*) is not defined"),
        (
            "PREDICT COUNT(orders.*, 30, 30, days) > 0 FOR EACH customers.customer_id",
            "end (30) must be greater than start (30)",
        ),
        ("PREDICT COUNT(orders.*, 0, -30, days) > 0 FOR EACH customers.customer_id", "empty window"),
        (
            "PREDICT customers.segment FOR EACH customers.customer_id WHERE COUNT(orders.*, -30, 1, days) > 0",
            "WHERE looks into the future",
        ),
        (
            "PREDICT LIST_DISTINCT(order_items.price, 0, 30, days) RANK TOP 3 FOR EACH customers.customer_id",
            "LIST_DISTINCT needs a foreign key column of order_items",
        ),
        (
            "PREDICT customers.segment FOR EACH customers.customer_id ASSUMING LIST_DISTINCT(orders.customer_id, 0, 3, days) IS NULL",
            "LIST_DISTINCT can only be a ranking target",
        ),
        (
            "PREDICT COUNT(products.*, 0, 30, days) > 0 FOR EACH products.product_id",
            "table products has no time column",
        ),
        (
            "PREDICT COUNT(orders.*, 0, 30, days) > 'many' FOR EACH customers.customer_id",
            "is a number and cannot be compared with 'many'",
        ),
        (
            "PREDICT customers.segment = 3 FOR EACH customers.customer_id",
            "is a string and cannot be compared with 3",
        ),
        (
            "PREDICT COUNT(orders.* WHERE customers.segment = 'gold', 0, 30, days) > 0 FOR EACH customers.customer_id",
            "may only compare columns of orders",
        ),
        (
            "PREDICT orders.status FOR EACH customers.customer_id",
            "not a column of the entity table customers",
        ),
        (
            "PREDICT customers.segment FOR EACH customers.customer_id WHERE customers.signup > 'yesterday'",
            "is not a timestamp",
        ),
    ],
)
def test_validation_errors(shop: Database, text: str, expected: str) -> None:
    assert expected in _error(shop, text)


def test_resolved_query(shop: Database) -> None:
    resolved = validate(
        parse(
            "PREDICT LIST_DISTINCT(order_items.product_id, 0, 30, days) RANK TOP 10 FOR EACH customers.customer_id"
        ),
        shop.schema,
    )
    assert resolved.task_type == "ranking" and resolved.k == 10 and resolved.target_table == "products"
    hops = [(h.child, h.fk_column, h.parent) for h in resolved.paths["order_items"]]
    assert hops == [("order_items", "order_id", "orders"), ("orders", "customer_id", "customers")]
    assert resolved.entity_timed


@pytest.mark.parametrize(
    ("text", "task_type"),
    [
        ("PREDICT customers.segment FOR EACH customers.customer_id", "multiclass"),
        ("PREDICT LAST(order_items.price, 0, 30, days) FOR EACH customers.customer_id", "regression"),
        ("PREDICT FIRST(orders.status, 0, 30, days) FOR EACH customers.customer_id", "multiclass"),
        ("PREDICT COUNT_DISTINCT(orders.status, 0, 30, days) FOR EACH customers.customer_id", "regression"),
        ("PREDICT customers.signup IS NULL FOR EACH customers.customer_id", "binary"),
    ],
)
def test_task_types(shop: Database, text: str, task_type: str) -> None:
    assert validate(parse(text), shop.schema).task_type == task_type


def test_reserved_table_prefix(shop: Database) -> None:
    assert "reserved by relgraph" in _error(
        shop, "PREDICT COUNT(__rg_ts.*, 0, 3, days) > 0 FOR EACH customers.customer_id"
    )
