"""Label semantics on a tiny shop database, computed by hand: windows, existence, NULLs, paths."""

from __future__ import annotations

import pandas as pd
import pytest
from query_fixtures import day, make_db

from relgraph.database import Database
from relgraph.query import build_task, make_training_table, parse, plan_sql
from relgraph.query.ast import ColumnRef


def _rows(db: Database, text: str, *times: float) -> list[tuple]:
    table = make_training_table(db, text, [day(t) for t in times])
    assert list(table.columns[1:]) == ["timestamp", "label"]
    days = ((table["timestamp"] - day(0)) / pd.Timedelta(days=1)).tolist()
    return [(key, d, label) for key, d, label in zip(table.iloc[:, 0], days, table["label"])]


def test_churn_with_past_only_entity_filter(shop: Database) -> None:
    text = (
        "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
        "WHERE COUNT(orders.*, -90, 0, days) > 0"
    )
    # t=0: customer 3 signs up on day 5 (does not exist yet); 2 and 4 have no past orders;
    # customer 1's order on day 0 counts as past (time <= t), not as future.
    assert _rows(shop, text, 0) == [(1, 0, 1)]
    assert _rows(shop, text, 10) == [(1, 10, 0), (2, 10, 0)]


def test_lifetime_value_through_two_hops(shop: Database) -> None:
    # order_items -> orders -> customers; empty windows sum to 0; NULL prices are skipped.
    assert _rows(shop, "PREDICT SUM(order_items.price, 0, 90, days) FOR EACH customers.customer_id", 0) == [
        (1, 0, 30.0),
        (2, 0, 65.0),
        (4, 0, 0.0),
    ]


def test_next_products_ranking(shop: Database) -> None:
    text = "PREDICT LIST_DISTINCT(order_items.product_id, 0, 30, days) RANK TOP 10 FOR EACH customers.customer_id"
    # customer 3 buys on day 20 but only exists from day 5: no row at t=0; empty lists are dropped.
    assert _rows(shop, text, 0) == [(2, 0, [11, 12])]
    task = build_task(shop, text, timestamps={"train": [day(0)], "val": [day(10)], "test": [day(20)]})
    assert (task.task_type, task.target_table, task.k) == ("ranking", "products", 10)
    assert task.val["label"].tolist() == [[12], [12], [10]]


def test_static_attribute_multiclass(shop: Database) -> None:
    assert _rows(shop, "PREDICT customers.segment FOR EACH customers.customer_id", 0) == [
        (1, 0, "gold"),
        (2, 0, "basic"),
    ]


def test_empty_window_is_null_for_avg_and_comparisons_with_null_are_false(shop: Database) -> None:
    assert _rows(shop, "PREDICT AVG(order_items.price, 0, 30, days) FOR EACH customers.customer_id", 20) == [
        (1, 20, 30.0)
    ]
    assert _rows(
        shop, "PREDICT AVG(order_items.price, 0, 30, days) > 0 FOR EACH customers.customer_id", 20
    ) == [
        (1, 20, 1),
        (2, 20, 0),
        (3, 20, 0),
        (4, 20, 0),
    ]
    # NOT of a comparison with NULL is true: customers 2-4 (AVG NULL) stay.
    text = "PREDICT COUNT(orders.*, 0, 30, days) FOR EACH customers.customer_id ASSUMING NOT AVG(order_items.price, 0, 30, days) > 100"
    assert _rows(shop, text, 20) == [(1, 20, 1.0), (2, 20, 1.0), (3, 20, 0.0), (4, 20, 0.0)]


def test_row_conditions_are_two_valued(shop: Database) -> None:
    negated = (
        "PREDICT COUNT(orders.* WHERE NOT orders.status = 'ok', 0, 100, days) FOR EACH customers.customer_id"
    )
    plain = "PREDICT COUNT(orders.* WHERE orders.status != 'ok', 0, 100, days) FOR EACH customers.customer_id"
    assert _rows(shop, negated, -1) == [(1, -1, 1.0), (2, -1, 1.0), (4, -1, 0.0)]
    assert _rows(shop, plain, -1) == [(1, -1, 0.0), (2, -1, 1.0), (4, -1, 0.0)]
    assert _rows(
        shop,
        "PREDICT COUNT(orders.* WHERE orders.status IS NULL, 0, 100, days) FOR EACH customers.customer_id",
        -1,
    )[0] == (1, -1, 1.0)


def test_first_and_last_skip_nulls_and_break_ties_by_key(shop: Database) -> None:
    first = "PREDICT FIRST(order_items.price, -1, 100, days) FOR EACH customers.customer_id"
    last = "PREDICT LAST(order_items.price, -1, 100, days) FOR EACH customers.customer_id"
    assert _rows(shop, first, 0) == [(1, 0, 20.0), (2, 0, 25.0)]
    assert _rows(shop, last, 0) == [(1, 0, 30.0), (2, 0, 40.0)]
    assert _rows(shop, "PREDICT LAST(orders.status, 0, 100, days) FOR EACH customers.customer_id", -1) == [
        (1, -1, "ok"),
        (2, -1, "ok"),
    ]


def test_month_windows(shop: Database) -> None:
    rows = _rows(shop, "PREDICT COUNT(orders.*, 0, 1, months) FOR EACH customers.customer_id", 9)
    assert rows == [(1, 9, 1.0), (2, 9, 2.0), (3, 9, 1.0), (4, 9, 0.0)]


def test_count_distinct_and_entity_attribute_conditions(shop: Database) -> None:
    text = (
        "PREDICT COUNT_DISTINCT(order_items.product_id, 0, 60, days) FOR EACH customers.customer_id "
        "WHERE customers.segment = 'basic' OR customers.segment IS NULL"
    )
    assert _rows(shop, text, 0) == [(2, 0, 2.0), (4, 0, 0.0)]


def test_window_boundaries_are_half_open(shop: Database) -> None:
    # Order 103 is at day 30: in (0, 30] but not in (30, 60].
    text = "PREDICT COUNT(orders.*, 0, 30, days) FOR EACH customers.customer_id"
    assert dict((k, v) for k, _, v in _rows(shop, text, 0))[2] == 2.0
    assert dict((k, v) for k, _, v in _rows(shop, text, 30))[2] == 0.0
    assert (
        dict(
            (k, v)
            for k, _, v in _rows(
                shop, "PREDICT COUNT(orders.*, -720, 0, hours) FOR EACH customers.customer_id", 30
            )
        )[2]
        == 2.0
    )


def test_timed_entity_rows_with_unknown_time_never_exist() -> None:
    tables = {
        "users": pd.DataFrame({"id": [1, 2], "joined": [day(0), pd.NaT]}),
        "events": pd.DataFrame({"eid": [1, 2], "user": [1, 2], "at": [day(5), day(5)]}),
    }
    db = make_db(
        tables,
        {"users": "id", "events": "eid"},
        {"events": [("user", "users", "id")]},
        {"users": "joined", "events": "at"},
    )
    assert _rows(db, "PREDICT COUNT(events.*, 0, 10, days) FOR EACH users.id", 1) == [(1, 1, 1.0)]


# -- leakage -----------------------------------------------------------------------------------
def test_where_and_existence_use_only_the_past(shop: Database) -> None:
    text = (
        "PREDICT COUNT(orders.*, -30, 0, days) FOR EACH customers.customer_id "
        "WHERE COUNT(order_items.* WHERE order_items.price > 100, -365, 0, days) > 0 OR customers.segment = 'gold'"
    )
    # The condition flips: customer 3's first item over 100 is on day 20, so a WHERE reading a
    # later row would select customer 3 on days 5 and 10 on the whole database, not on the cut one.
    selected = {t: set(make_training_table(shop, text, [day(t)])["customer_id"]) for t in (10, 20)}
    assert 3 not in selected[10] and 3 in selected[20]
    for t in (-30, 0, 5, 10, 20, 30, 45):
        full = make_training_table(shop, text, [day(t)])
        cut = make_training_table(shop.cut(day(t).to_datetime64()), text, [day(t)])
        pd.testing.assert_frame_equal(full, cut)


def test_labels_use_only_their_window(shop: Database) -> None:
    text = "PREDICT SUM(order_items.price, 0, 30, days) FOR EACH customers.customer_id ASSUMING COUNT(orders.*, 0, 30, days) > 0"
    for t in (-60, -1, 0, 10, 20):
        full = make_training_table(shop, text, [day(t)])
        cut = make_training_table(shop.cut(day(t + 30).to_datetime64()), text, [day(t)])
        pd.testing.assert_frame_equal(full, cut)


# -- injection ---------------------------------------------------------------------------------
def test_injection_strings_in_names_and_literals() -> None:
    evil_table = 'x"; DROP TABLE victims; --'
    evil_column = "v' OR 1=1; --"
    tables = {
        "victims": pd.DataFrame({"id": [1, 2], "name": ["a", "'; DROP TABLE victims; --"]}),
        evil_table: pd.DataFrame(
            {"eid": [1, 2, 3], "vid": [1, 1, 2], evil_column: [1.0, 2.0, 3.0], "at": [day(1)] * 3}
        ),
    }
    db = make_db(
        tables,
        {"victims": "id", evil_table: "eid"},
        {evil_table: [("vid", "victims", "id")]},
        {evil_table: "at"},
    )
    text = (
        'PREDICT SUM("x""; DROP TABLE victims; --"."v\' OR 1=1; --", 0, 5, days) FOR EACH victims.id '
        "WHERE victims.name = '''; DROP TABLE victims; --' OR victims.name = 'a'"
    )
    query = parse(text)
    assert query.target.column == ColumnRef(evil_table, evil_column)
    assert _rows(db, text, 0) == [(1, 0, 3.0), (2, 0, 3.0)]
    sql = plan_sql(db, query)
    assert "DROP TABLE victims; --'" not in sql.split("-- parameters:")[0]  # literals are parameters
    assert db.duckdb().execute("SELECT COUNT(*) FROM victims").fetchone() == (2,)


def test_sql_is_explained_with_parameters(shop: Database) -> None:
    sql = plan_sql(
        shop,
        "PREDICT COUNT(orders.* WHERE orders.status = 'ok', 0, 30, days) > 2 FOR EACH customers.customer_id",
    )
    assert '"orders"' in sql and "'ok'" not in sql.split("-- parameters:")[0]
    assert "-- parameters:" in sql and "'ok'" in sql.split("-- parameters:")[1]


@pytest.mark.parametrize("bad", [["not a date"], [None]])
def test_bad_timestamps(shop: Database, bad: list) -> None:
    from relgraph.errors import QueryError

    with pytest.raises(QueryError, match="timestamps"):
        make_training_table(shop, "PREDICT customers.segment FOR EACH customers.customer_id", bad)


def test_tables_named_like_planner_relations() -> None:
    tables = {
        "g0": pd.DataFrame({"id": [1, 2]}),
        "w": pd.DataFrame({"eid": [1, 2, 3], "gid": [1, 1, 2], "at": [day(1), day(2), day(40)]}),
    }
    db = make_db(tables, {"g0": "id", "w": "eid"}, {"w": [("gid", "g0", "id")]}, {"w": "at"})
    text = "PREDICT COUNT(w.*, 0, 30, days) FOR EACH g0.id ASSUMING COUNT(w.*, -10, 60, days) > 0"
    assert _rows(db, text, 0) == [(1, 0, 2.0), (2, 0, 0.0)]


def test_sql_failures_become_query_errors() -> None:
    from relgraph.errors import QueryError

    tables = {"users": pd.DataFrame({"id": [1], "tags": [[1, 2]]})}
    db = make_db(tables, {"users": "id"})
    with pytest.raises(QueryError, match="planned SQL failed in DuckDB"):
        make_training_table(db, "PREDICT users.tags = 'x' FOR EACH users.id", [day(0)])


def test_parenthesised_condition_target_is_binary(shop: Database) -> None:
    text = (
        "PREDICT (COUNT(orders.*, 0, 30, days) > 1 OR NOT customers.segment = 'basic') "
        "FOR EACH customers.customer_id"
    )
    query = parse(text)
    assert query.task_type == "binary" and parse(str(query)) == query
    # t=0: customer 1 (gold, no orders in (0, 30]) -> 1 via NOT; 2 (basic, 2 orders) -> 1; 4 (NULL segment) -> 1.
    assert _rows(shop, text, 0) == [(1, 0, 1), (2, 0, 1), (4, 0, 1)]
    assert _rows(shop, text, 10) == [(1, 10, 1), (2, 10, 0), (3, 10, 0), (4, 10, 1)]
