"""The demo database: deterministic, declared keys, and the signal the demo's tasks rely on."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from relgraph.cli.main import main
from relgraph.demo import make_demo_database, prepare_demo

TABLES = ["categories", "products", "customers", "orders", "order_items", "reviews", "support_tickets"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = make_demo_database(tmp_path_factory.mktemp("demo") / "demo.db", seed=0)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    yield con
    con.close()


def test_same_seed_same_bytes_other_seed_other_content(tmp_path: Path) -> None:
    a = make_demo_database(tmp_path / "a.db", seed=3, scale=0.2)
    b = make_demo_database(tmp_path / "b.db", seed=3, scale=0.2)
    c = make_demo_database(tmp_path / "c.db", seed=4, scale=0.2)
    assert digest(a) == digest(b)
    dump = lambda p: "\n".join(sqlite3.connect(p).iterdump())  # noqa: E731
    assert dump(a) == dump(b) != dump(c)
    make_demo_database(a, seed=3, scale=0.2)  # overwriting gives the same file again
    assert digest(a) == digest(b)


def test_sizes_and_declared_keys(demo: sqlite3.Connection) -> None:
    counts = {t: demo.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert counts["customers"] == 3000 and counts["products"] == 400
    assert 30_000 <= counts["orders"] <= 60_000
    assert 80_000 <= counts["order_items"] <= 150_000
    assert counts["reviews"] > 5_000 and counts["support_tickets"] > 1_000
    fks = {t: {(r[3], r[2]) for r in demo.execute(f"PRAGMA foreign_key_list({t})")} for t in TABLES}
    assert fks["order_items"] == {("order_id", "orders"), ("product_id", "products")}
    assert fks["support_tickets"] == {("customer_id", "customers"), ("order_id", "orders")}
    assert fks["reviews"] == {("customer_id", "customers"), ("product_id", "products")}
    for table in TABLES:
        assert any(r[5] == 1 for r in demo.execute(f"PRAGMA table_info({table})")), table
    # Every foreign key value resolves; nullable order_id is sometimes null.
    assert demo.execute("PRAGMA foreign_key_check").fetchall() == []
    assert demo.execute("SELECT count(*) FROM support_tickets WHERE order_id IS NULL").fetchone()[0] > 0


def test_events_respect_time_order(demo: sqlite3.Connection) -> None:
    checks = {
        "order before signup": "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) "
        "WHERE o.ordered_at < c.signup_at",
        "item of a product not yet created": "SELECT count(*) FROM order_items i JOIN orders o USING (order_id) "
        "JOIN products p USING (product_id) WHERE o.ordered_at < p.created_at",
        "review before its purchase": "SELECT count(*) FROM reviews r LEFT JOIN (SELECT o.customer_id, "
        "i.product_id, min(o.ordered_at) AS first FROM orders o JOIN order_items i USING (order_id) GROUP BY 1, 2) f "
        "USING (customer_id, product_id) WHERE f.first IS NULL OR f.first >= r.created_at",
        "last_update before creation": "SELECT count(*) FROM products WHERE last_update < created_at",
    }
    for name, sql in checks.items():
        assert demo.execute(sql).fetchone()[0] == 0, name
    span = demo.execute("SELECT min(ordered_at), max(ordered_at) FROM orders").fetchone()
    assert span[0].startswith("2023-01") and span[1].startswith("2024-12")


def test_weekly_and_yearly_seasonality(demo: sqlite3.Connection) -> None:
    by_weekday = dict(demo.execute("SELECT strftime('%w', ordered_at), count(*) FROM orders GROUP BY 1"))
    weekend = by_weekday["0"] + by_weekday["6"]
    assert weekend / sum(by_weekday.values()) > 2 / 7 * 1.15
    by_month = dict(
        demo.execute(
            "SELECT substr(ordered_at, 6, 2), count(*) FROM orders WHERE ordered_at >= '2024' GROUP BY 1"
        )
    )
    assert by_month["11"] > 1.5 * by_month["05"] and by_month["11"] > 1.5 * by_month["06"]


def churn_table(demo: sqlite3.Connection) -> np.ndarray:
    """Customers active in H1 2024: churned (no order in the next 90 days), bad-product exposure, recency."""
    sql = """
    WITH reputation AS (SELECT product_id, avg(rating <= 2) AS bad FROM reviews GROUP BY product_id),
    active AS (SELECT DISTINCT customer_id FROM orders WHERE ordered_at BETWEEN '2024-01-01' AND '2024-07-01'),
    later AS (SELECT DISTINCT customer_id FROM orders WHERE ordered_at > '2024-07-01' AND ordered_at <= '2024-09-29'),
    exposure AS (SELECT o.customer_id, avg(coalesce(r.bad, 0)) AS bad FROM orders o JOIN order_items i USING (order_id)
                 LEFT JOIN reputation r USING (product_id) WHERE o.ordered_at <= '2024-07-01' GROUP BY 1)
    SELECT a.customer_id IN (SELECT customer_id FROM later) = 0, e.bad
    FROM active a JOIN exposure e USING (customer_id)
    """
    return np.array(demo.execute(sql).fetchall(), dtype=float)


def test_churn_rate_and_multi_hop_signal(demo: sqlite3.Connection) -> None:
    table = churn_table(demo)
    churned, exposure = table[:, 0].astype(bool), table[:, 1]
    assert len(table) > 1000
    assert 0.1 < churned.mean() < 0.5
    # Customers who bought products that *other* customers rate badly churn more.
    assert exposure[churned].mean() > exposure[~churned].mean() * 1.1


def test_customers_have_category_preferences(demo: sqlite3.Connection) -> None:
    sql = """
    SELECT o.customer_id, p.category_id, count(*) FROM orders o JOIN order_items i USING (order_id)
    JOIN products p USING (product_id) GROUP BY 1, 2
    """
    rows = np.array(demo.execute(sql).fetchall())
    totals = np.bincount(rows[:, 0], weights=rows[:, 2])
    top = np.zeros_like(totals)
    np.maximum.at(top, rows[:, 0], rows[:, 2])
    heavy = totals >= 20
    # With 14 categories a uniform shopper's top category holds ~15 % of items.
    assert np.mean(top[heavy] / totals[heavy]) > 0.3
    repeat = demo.execute(
        "SELECT avg(n > 1) FROM (SELECT o.customer_id, i.product_id, count(*) AS n FROM orders o "
        "JOIN order_items i USING (order_id) GROUP BY 1, 2)"
    ).fetchone()[0]
    assert repeat > 0.1


def test_cli_demo_prints_inspect_report_and_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "out"), "--seed", "1", "--scale", "0.2"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "out" / "demo.db").exists()
    for table in TABLES:
        assert table in out
    assert "customers -[rev_customer_id]-> orders" in out
    assert "Why is customer" in out and "by table (log-odds)" in out  # ends with one explained prediction
    assert f"relgraph ui sqlite:///{tmp_path / 'out' / 'demo.db'} --runs {tmp_path / 'out'}" in out  # ends with the workspace command


def test_demo_times_and_graph(tmp_path: Path) -> None:
    ctx = prepare_demo(tmp_path, seed=2, scale=0.2)
    schema = ctx.db.schema
    assert schema["products"].time is not None and schema["products"].time.column == "created_at"
    assert schema["orders"].time is not None and schema["orders"].time.column == "ordered_at"
    assert schema["order_items"].time is not None and schema["order_items"].time.inherited_via == "order_id"
    assert schema["categories"].time is None
    graph = ctx.graph
    assert graph.num_nodes["customers"] == 600
    item_rows, order_rows = graph.edge_index[("order_items", "order_id", "orders")]
    assert np.array_equal(graph.node_time["order_items"][item_rows], graph.node_time["orders"][order_rows])
    assert graph.dropped_edges[("support_tickets", "order_id", "orders")] > 0  # account tickets: no order
    assert sum(graph.dropped_edges.values()) == graph.dropped_edges[("support_tickets", "order_id", "orders")]
    assert graph.features["reviews"].text_names == ["body"]
