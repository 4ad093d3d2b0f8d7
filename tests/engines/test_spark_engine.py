"""The spark engine gives the rows DuckDB gives: every aggregate, windows in days / months, WHERE,
ASSUMING, NULLs, ties; parameters become typed literals; leakage-free on both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from query_fixtures import make_db

from relgraph.database import Database
from relgraph.engines import engine_for
from relgraph.engines.spark_engine import translate
from relgraph.errors import QueryError
from relgraph.query import make_training_table

pytestmark = pytest.mark.spark

T0 = pd.Timestamp("2024-01-31")


def day(n: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=n)


def _tables() -> dict[str, pd.DataFrame]:
    # Month ends (Jan 31 + 1 month), two orders at the same time (FIRST/LAST ties -> key),
    # NULL statuses, prices and segments; a table named by a reserved word ("order").
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "segment": ["gold", "basic", "basic", None, "gold"],
            "signup": [day(-100), day(-50), day(5), day(-10), day(-200)],
        }
    )
    order = pd.DataFrame(
        {
            "order_id": [100, 101, 102, 103, 104, 105, 106, 107, 108, 109],
            "customer_id": [1, 1, 2, 2, 3, 1, 4, 4, 5, None],
            "ordered_at": [day(d) for d in (-60, 0, 10, 10, 20, 40, 29, 29, 1, 3)],
            "status": ["ok", "ok", "returned", "ok", "ok", None, "ok", "late", None, "ok"],
        }
    )
    items = pd.DataFrame(
        {
            "item_id": list(range(1000, 1012)),
            "order_id": [100, 101, 102, 102, 103, 104, 105, 106, 107, 108, 108, 101],
            "product_id": [10, 11, 11, 12, 12, 10, 12, 13, 10, 11, None, 11],
            "price": [500.0, 20.0, 25.0, 40.0, None, 450.0, 30.0, 5.0, 7.5, 1.25, 3.0, 20.0],
            "ordered_at": [day(d) for d in (-60, 0, 10, 10, 10, 20, 40, 29, 29, 1, 1, 0)],
        }
    )
    products = pd.DataFrame({"product_id": [10, 11, 12, 13], "name": ["bike", "bell", "lamp", "lock"]})
    return {"customers": customers, "products": products, "order": order, "items": items}


def _db() -> Database:
    return make_db(
        _tables(),
        {"customers": "customer_id", "products": "product_id", "order": "order_id", "items": "item_id"},
        {
            "order": [("customer_id", "customers", "customer_id")],
            "items": [("order_id", "order", "order_id"), ("product_id", "products", "product_id")],
        },
        {"customers": "signup", "order": "ordered_at", "items": "ordered_at"},
    )


QUERIES = [
    "PREDICT COUNT(order.*, 0, 30, days) FOR EACH customers.customer_id",
    "PREDICT SUM(items.price, 0, 1, months) FOR EACH customers.customer_id ASSUMING COUNT(order.*, 0, 30, days) > 0",
    "PREDICT AVG(items.price, -1, 1, months) FOR EACH customers.customer_id WHERE customers.segment = 'basic'",
    "PREDICT MIN(items.price, 0, 60, days) <= 20 FOR EACH customers.customer_id WHERE MAX(items.price, -90, 0, days) > 10",
    "PREDICT COUNT_DISTINCT(items.product_id, 0, 2, months) > 1 FOR EACH customers.customer_id",
    "PREDICT FIRST(order.status, 0, 30, days) FOR EACH customers.customer_id",
    "PREDICT LAST(order.status, -1, 1, months) FOR EACH customers.customer_id WHERE NOT customers.segment = 'gold'",
    "PREDICT LIST_DISTINCT(items.product_id, 0, 45, days) RANK TOP 3 FOR EACH customers.customer_id",
    "PREDICT COUNT(order.* WHERE order.status = 'ok', 0, 30, days) = 0 FOR EACH customers.customer_id "
    "WHERE COUNT(order.*, -2, 0, months) > 0 OR customers.segment IS NULL",
    "PREDICT MAX(items.price, 0, 30, days) FOR EACH customers.customer_id ASSUMING MAX(items.price, 0, 30, days) IS NOT NULL",
    "PREDICT COUNT(order.*, 0, 2, weeks) > 0 FOR EACH customers.customer_id ASSUMING COUNT(items.*, -720, 12, hours) > 1",
]
STAMPS = [day(n) for n in range(-70, 50, 5)] + [pd.Timestamp("2024-02-29"), pd.Timestamp("2023-12-31 12:30")]


@pytest.fixture(scope="module")
def dbs(spark: Any) -> tuple[Database, Database]:
    return _db(), _db().with_engine("spark")


@pytest.mark.parametrize("text", QUERIES)
def test_spark_gives_duckdb_rows(dbs: tuple[Database, Database], text: str) -> None:
    duck, sparkdb = dbs
    expected = make_training_table(duck, text, STAMPS)
    mine = make_training_table(sparkdb, text, STAMPS)
    assert engine_for(sparkdb).name == "spark" and engine_for(duck).name == "duckdb"
    assert len(expected) > 0
    pd.testing.assert_frame_equal(mine, expected)


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_cut_database_gives_the_same_rows(spark: Any, engine: str) -> None:
    """Labels at t computed on db.cut(t + horizon), features on db.cut(t): nothing later leaks."""
    full = _db().with_engine(engine)
    labels = "PREDICT SUM(items.price, 0, 30, days) FOR EACH customers.customer_id ASSUMING COUNT(order.*, 0, 30, days) > 0"
    past = (
        "PREDICT COUNT(order.*, -30, 0, days) FOR EACH customers.customer_id "
        "WHERE COUNT(items.* WHERE items.price > 100, -365, 0, days) > 0 OR customers.segment = 'gold'"
    )
    # Customer 3's item over 100 is on day 20: a WHERE reading later rows would select it on day 10.
    assert 3 not in set(make_training_table(full, past, [day(10)])["customer_id"])
    assert 3 in set(make_training_table(full, past, [day(20)])["customer_id"])
    for t in (0, 10, 29):
        cut = full.cut((day(t) + pd.Timedelta(days=30)).to_datetime64())
        assert engine_for(cut).name == engine
        pd.testing.assert_frame_equal(
            make_training_table(full, labels, [day(t)]), make_training_table(cut, labels, [day(t)])
        )
        now = full.cut(day(t).to_datetime64())
        pd.testing.assert_frame_equal(
            make_training_table(full, past, [day(t)]), make_training_table(now, past, [day(t)])
        )


def test_parameters_are_literals_never_text(spark: Any) -> None:
    sql = translate(
        'SELECT * FROM "order" WHERE "status" = $p0 AND "ordered_at" > CAST($p1 AS TIMESTAMP) AND $p2 AND "x" < $p3',
        {"p0": "x' OR 1=1; --", "p1": pd.Timestamp("2024-01-31").to_pydatetime(), "p2": True, "p3": 2.5},
    )
    assert "'x\\' OR 1=1; --'" in sql or "'x'' OR 1=1; --'" in sql
    assert "TIMESTAMP_NTZ" in sql and "`order`" in sql
    engine = engine_for(_db().with_engine("spark"))
    rows = engine.execute('SELECT "status" FROM "order" WHERE "status" = $s', {"s": "x' OR 1=1; --"})
    assert rows.num_rows == 0
    rows = engine.execute('SELECT COUNT(*) AS n FROM "order" WHERE "status" = $s', {"s": "ok"})
    assert rows.column_names == ["n"] and rows.column(0).to_pylist() == [6]


def test_spark_sql_error_is_one_line(spark: Any, tmp_path: Path) -> None:
    engine = engine_for(_db().with_engine("spark", staging_dir=tmp_path / "staged"))
    assert (tmp_path / "staged").is_dir()
    with pytest.raises(QueryError, match="failed in Spark .*relgraph query --explain") as info:
        engine.execute('SELECT "nope" FROM "order"')
    assert "\n" not in str(info.value)


def test_spark_stopping_mid_query_says_to_raise_its_memory(spark: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_for(_db().with_engine("spark", staging_dir=tmp_path / "staged"))

    def refused(sql: str) -> Any:  # what py4j raises once the JVM has died
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(engine.spark, "sql", refused)
    with pytest.raises(QueryError, match="Spark stopped .*out of memory.*--spark-conf spark.driver.memory=") as info:
        engine.execute('SELECT * FROM "order"')
    assert "\n" not in str(info.value)


def test_spark_conf_options_and_default_driver_memory() -> None:
    import argparse

    from relgraph.cli.engine_args import add_engine_arguments, connect_options
    from relgraph.engines.spark_engine import default_driver_memory

    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    args = parser.parse_args(["--engine", "spark", "--spark-conf", "spark.driver.memory=16g",
                              "--spark-conf", "spark.sql.shuffle.partitions = 8"])
    assert connect_options(args) == {"engine": "spark", "spark_master": "local[2]",
                                     "spark_conf": {"spark.driver.memory": "16g", "spark.sql.shuffle.partitions": "8"}}
    assert connect_options(parser.parse_args(["--spark-conf", "a=b"]))["spark_conf"] is None  # duckdb: unused
    with pytest.raises(QueryError, match="KEY=VALUE"):
        connect_options(parser.parse_args(["--engine", "spark", "--spark-conf", "spark.driver.memory"]))
    memory = default_driver_memory()
    assert memory.endswith("g") and int(memory[:-1]) >= 2


def test_spark_error_names_the_innermost_java_cause(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_for(_db().with_engine("spark", staging_dir=tmp_path / "staged"))
    text = ("An error occurred while calling o341.getResult.\n: org.apache.spark.SparkException: Exception thrown in "
            "awaitResult:\n\tat x.y(Z.scala:1)\nCaused by: org.apache.spark.SparkException: Job aborted\n"
            "Caused by: org.apache.spark.memory.SparkOutOfMemoryError: [AGGREGATE_OUT_OF_MEMORY] No enough memory")

    def failing(sql: str) -> Any:
        raise RuntimeError(text)

    monkeypatch.setattr(engine.spark, "sql", failing)
    with pytest.raises(QueryError, match=r"\[AGGREGATE_OUT_OF_MEMORY\].*spark.driver.memory") as info:
        engine.execute('SELECT * FROM "order"')
    assert "\n" not in str(info.value) and "o341" not in str(info.value)


@pytest.mark.parametrize("in_memory_rows", [0, 10**9])
def test_registered_tables_read_the_same_from_parquet_or_memory(spark: Any, tmp_path: Path, in_memory_rows: int,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from relgraph.engines import spark_engine

    monkeypatch.setattr(spark_engine, "REGISTER_IN_MEMORY_ROWS", in_memory_rows)
    engine = engine_for(_db().with_engine("spark", staging_dir=tmp_path / "staged"))
    frame = pa.table({"k": [3, 1, 2], "t": pa.array([day(1), day(-2), day(5)], pa.timestamp("ns")),
                      "s": pa.array([{"a": 1.5, "b": None}, {"a": None, "b": 2}, {"a": 0.0, "b": 3}])})
    engine.register("__rg_test", frame)
    sql = 'SELECT r.k, r.t, r.s.a AS a, o.order_id FROM __rg_test r LEFT JOIN "order" o ON o.customer_id = r.k ORDER BY r.k, o.order_id'
    duck = engine_for(_db())
    duck.register("__rg_test", frame)
    expected = duck.execute(sql).to_pandas()
    pd.testing.assert_frame_equal(engine.execute(sql).to_pandas(), expected, check_dtype=False)
    engine.unregister("__rg_test")
    assert not list(tmp_path.glob(".registered-*"))


def test_large_results_come_back_in_order_with_their_names(spark: Any, tmp_path: Path) -> None:
    engine = engine_for(_db().with_engine("spark", staging_dir=tmp_path / "staged"))
    sql = 'SELECT order_id AS "o.id (first)", customer_id AS "a b", order_id * 2 AS x FROM "order" ORDER BY order_id DESC'
    direct = engine.execute(sql).to_pandas()
    assert list(direct.columns) == ["o.id (first)", "a b", "x"]
    pd.testing.assert_frame_equal(engine.execute(sql, large=True).to_pandas(), direct)
    empty = engine.execute('SELECT order_id AS "o.id" FROM "order" WHERE order_id < 0', large=True)
    assert empty.num_rows == 0 and empty.column_names == ["o.id"]
    assert not list(tmp_path.glob(".result-*"))


def test_shuffle_partitions_grow_with_the_database_unless_set(spark: Any, tmp_path: Path) -> None:
    from relgraph.engines.spark_engine import shuffle_partitions

    assert [shuffle_partitions(n) for n in (0, 2_000_000, 50_000_000, 10**12)] == [4, 4, 100, 800]
    engine = engine_for(_db().with_engine("spark", staging_dir=tmp_path / "staged"))
    assert engine.spark.conf.get("spark.sql.shuffle.partitions") == "4"
    given = engine_for(_db().with_engine("spark", staging_dir=tmp_path / "staged",
                                         conf={"spark.sql.shuffle.partitions": "12"}))
    assert given.spark.conf.get("spark.sql.shuffle.partitions") == "12"


@pytest.mark.postgres
def test_a_postgres_database_on_spark_gives_duckdbs_rows(spark: Any, pg_scratch: Any, tmp_path: Path) -> None:
    """A server database through the Spark engine: relgraph's connector reads it (keys declared
    on the server), Spark runs the query over the staged copy, the rows equal DuckDB's."""
    import relgraph

    tables = {name: frame.astype({c: "Int64" for c in frame.columns if c.endswith("_id") and frame[c].dtype.kind == "f"})
              for name, frame in _tables().items()}  # keys with NULLs as integers, as the server holds them
    pg_scratch.load(tables, primary_keys={"customers": "customer_id", "products": "product_id",
                                             "order": "order_id", "items": "item_id"},
                    foreign_keys={"order": [("customer_id", "customers", "customer_id")],
                                  "items": [("order_id", "order", "order_id"), ("product_id", "products", "product_id")]})
    duck = relgraph.connect(pg_scratch.url)
    on_spark = relgraph.connect(pg_scratch.url, engine="spark", spark_master="local[2]").with_engine(
        "spark", staging_dir=tmp_path / "staged")
    assert engine_for(on_spark).name == "spark"
    for text in QUERIES[:3]:
        expected = make_training_table(duck, text, STAMPS)
        assert len(expected) > 0
        pd.testing.assert_frame_equal(make_training_table(on_spark, text, STAMPS), expected)
