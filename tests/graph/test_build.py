"""Graph structure: nodes, node times, forward/reverse edges, dropped keys, bad schemas."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relgraph.database import Database
from relgraph.errors import SchemaError
from relgraph.graph import NEVER, build_graph, node_times_seconds
from relgraph.schema.model import TimeInfo


def ts(values: list[str | None]) -> pa.Array:
    return pa.array([None if v is None else np.datetime64(v, "s") for v in values], type=pa.timestamp("s"))


def seconds(value: str) -> int:
    return int(np.datetime64(value, "s").astype(np.int64))


@pytest.fixture
def shop(database_factory: Callable[..., Database]) -> Database:
    customers = pa.table({"id": [1, 2, 3], "signup": ts(["2020-01-01", "2020-02-01", None])})
    orders = pa.table(
        {
            "id": [10, 11, 12, 13, 14],
            "customer_id": [2, 1, 9, None, 2],  # 9 dangling, None null
            "at": ts(["2020-03-01", "2020-01-05", "2020-02-05", "2020-01-01", "1950-05-13 14:30:00"]),
        }
    )
    items = pa.table({"id": [1, 2, 3, 4], "order_id": [11, 10, 10, 14], "qty": [1, 2, 3, 4]})
    regions = pa.table({"code": ["n", "s"]})
    return database_factory(
        {"customers": customers, "orders": orders, "items": items, "regions": regions},
        primary_keys={"customers": "id", "orders": "id", "items": "id", "regions": "code"},
        foreign_keys={
            "orders": [("customer_id", "customers", "id")],
            "items": [("order_id", "orders", "id")],
        },
        times={
            "customers": TimeInfo("signup"),
            "orders": TimeInfo("at"),
            "items": TimeInfo("at", inherited_via="order_id", parent_table="orders"),
        },
    )


def pairs(edges: np.ndarray) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in edges.T}


def test_nodes_edges_and_dropped_counts(shop: Database) -> None:
    graph = build_graph(shop, cache_dir=None)
    assert graph.num_nodes == {"customers": 3, "orders": 5, "items": 4, "regions": 2}
    fwd = graph.edge_index[("orders", "customer_id", "customers")]
    assert fwd.dtype == np.int64 and fwd.shape[0] == 2
    # order rows 0, 1, 4 reference customer rows 1, 0, 1; row 2 dangling, row 3 null.
    assert pairs(fwd) == {(0, 1), (1, 0), (4, 1)}
    rev = graph.edge_index[("customers", "rev_customer_id", "orders")]
    assert pairs(rev) == {(b, a) for a, b in pairs(fwd)}
    assert np.all(np.diff(rev[0]) >= 0)  # reverse edges grouped by parent row
    assert graph.dropped_edges[("orders", "customer_id", "customers")] == 2
    assert graph.dropped_edges[("items", "order_id", "orders")] == 0
    assert pairs(graph.edge_index[("items", "order_id", "orders")]) == {(0, 1), (1, 0), (2, 0), (3, 4)}
    assert set(graph.edge_types) == {
        ("orders", "customer_id", "customers"),
        ("customers", "rev_customer_id", "orders"),
        ("items", "order_id", "orders"),
        ("orders", "rev_order_id", "items"),
    }


def test_node_times_own_inherited_unknown_static(shop: Database) -> None:
    graph = build_graph(shop, cache_dir=None)
    assert graph.node_time["regions"] is None
    customers = graph.node_time["customers"]
    assert customers is not None and customers.dtype == np.int64
    assert customers.tolist() == [seconds("2020-01-01"), seconds("2020-02-01"), NEVER]
    orders = graph.node_time["orders"]
    assert orders is not None
    assert orders[4] == seconds("1950-05-13T14:30:00") < 0  # before 1970: exact, not truncated towards 0
    items = graph.node_time["items"]
    assert items is not None
    # Every item inherits its order's time.
    item_rows, order_rows = graph.edge_index[("items", "order_id", "orders")]
    assert np.array_equal(items[item_rows], orders[order_rows])


def test_node_times_seconds_floors_subsecond_and_negative() -> None:
    times = np.array(["1969-12-31T23:59:59.5", "1970-01-01T00:00:01.9", "NaT"], dtype="datetime64[ns]")
    out = node_times_seconds(times)
    assert out is not None and out.tolist() == [-1, 1, NEVER]
    assert node_times_seconds(None) is None


def test_self_reference_and_two_foreign_keys_between_same_tables(
    database_factory: Callable[..., Database],
) -> None:
    employees = pa.table({"id": [1, 2, 3, 4], "manager_id": [None, 1, 1, 2]})
    accounts = pa.table({"id": ["a", "b", "c"]})
    transfers = pa.table({"id": [1, 2, 3], "from_id": ["a", "b", "c"], "to_id": ["b", "c", "zz"]})
    db = database_factory(
        {"employees": employees, "accounts": accounts, "transfers": transfers},
        primary_keys={"employees": "id", "accounts": "id", "transfers": "id"},
        foreign_keys={
            "employees": [("manager_id", "employees", "id")],
            "transfers": [("from_id", "accounts", "id"), ("to_id", "accounts", "id")],
        },
    )
    graph = build_graph(db, cache_dir=None)
    assert pairs(graph.edge_index[("employees", "manager_id", "employees")]) == {(1, 0), (2, 0), (3, 1)}
    assert pairs(graph.edge_index[("employees", "rev_manager_id", "employees")]) == {(0, 1), (0, 2), (1, 3)}
    assert graph.dropped_edges[("employees", "manager_id", "employees")] == 1
    assert pairs(graph.edge_index[("transfers", "from_id", "accounts")]) == {(0, 0), (1, 1), (2, 2)}
    assert pairs(graph.edge_index[("transfers", "to_id", "accounts")]) == {(0, 1), (1, 2)}
    assert pairs(graph.edge_index[("accounts", "rev_to_id", "transfers")]) == {(1, 0), (2, 1)}
    assert graph.dropped_edges[("transfers", "to_id", "accounts")] == 1
    assert len(graph.edge_types) == 6


def test_keys_of_different_types_are_matched(database_factory: Callable[..., Database]) -> None:
    parents = pa.table({"id": pa.array(["1", "2", "3"])})
    children = pa.table({"id": [1, 2], "parent_id": pa.array([3, 7], type=pa.int32())})
    db = database_factory(
        {"parents": parents, "children": children},
        primary_keys={"parents": "id", "children": "id"},
        foreign_keys={"children": [("parent_id", "parents", "id")]},
    )
    graph = build_graph(db, cache_dir=None)
    assert pairs(graph.edge_index[("children", "parent_id", "parents")]) == {(0, 2)}


def test_duplicate_parent_key_and_missing_column_raise(database_factory: Callable[..., Database]) -> None:
    parents = pa.table({"id": [1, 1, 2]})
    children = pa.table({"id": [1], "parent_id": [1]})
    fks = {"children": [("parent_id", "parents", "id")]}
    db = database_factory({"parents": parents, "children": children}, foreign_keys=fks)
    with pytest.raises(SchemaError, match=r"parents\.id .*duplicate"):
        build_graph(db, cache_dir=None)
    db = database_factory(
        {"parents": pa.table({"id": [1]}), "children": children},
        foreign_keys={"children": [("parent_id", "parents", "pk")]},
    )
    with pytest.raises(SchemaError, match=r"parents\.pk does not exist"):
        build_graph(db, cache_dir=None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parent_keys=st.lists(st.integers(0, 50), unique=True, max_size=20),
    child_keys=st.lists(st.one_of(st.none(), st.integers(0, 60)), max_size=60),
)
def test_edges_match_plain_lookup(
    database_factory: Callable[..., Database], parent_keys: list[int], child_keys: list[int | None]
) -> None:
    db = database_factory(
        {
            "p": pa.table({"id": pa.array(parent_keys, pa.int64())}),
            "c": pa.table({"fk": pa.array(child_keys, pa.int64())}),
        },
        foreign_keys={"c": [("fk", "p", "id")]},
    )
    graph = build_graph(db, cache_dir=None)
    position = {k: i for i, k in enumerate(parent_keys)}
    expected = {(i, position[k]) for i, k in enumerate(child_keys) if k in position}
    assert pairs(graph.edge_index[("c", "fk", "p")]) == expected
    assert graph.dropped_edges[("c", "fk", "p")] == len(child_keys) - len(expected)


def test_importing_graph_does_not_import_torch() -> None:
    code = "import sys, relgraph.graph, relgraph; relgraph.build_graph; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
