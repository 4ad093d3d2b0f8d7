"""TemporalFeatureBuilder on the Spark engine: the same feature matrices as DuckDB, no leakage.

The ``spark`` fixture of tests/engines/conftest.py: one local[2] SparkSession for the whole test
session (skipped without pyspark, sqlglot or java).
Agreement means: same columns in the same order, same missing values, floats within 1e-9
relative, categorical columns equal (values and categories).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import relgraph
from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.database import Database

# The shop databases of the baselines tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "baselines"))
from shop_fixtures import random_shop, small_shop  # noqa: E402

pytestmark = pytest.mark.spark

DAY = pd.Timestamp("2024-01-01")


def _engine(db: Database, engine: str, request: pytest.FixtureRequest) -> Database:
    if engine == "spark":
        request.getfixturevalue("spark")
    return db.with_engine(engine)


def assert_same_features(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert a.index.equals(b.index)
    for col in a.columns:
        if isinstance(a[col].dtype, pd.CategoricalDtype):
            assert isinstance(b[col].dtype, pd.CategoricalDtype), col
            assert list(a[col].cat.categories) == list(b[col].cat.categories), col
            assert a[col].astype(object).tolist() == b[col].astype(object).tolist(), col
        else:
            x, y = a[col].to_numpy(float), b[col].to_numpy(float)
            np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"missing values of {col}")
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=0, equal_nan=True, err_msg=col)


def _both(make_db: Any, fit: Any, request: pytest.FixtureRequest) -> tuple[Any, Any]:
    request.getfixturevalue("spark")
    return fit(make_db().with_engine("duckdb")), fit(make_db().with_engine("spark"))


def test_shop_features_agree_between_duckdb_and_spark(request: pytest.FixtureRequest) -> None:
    frame = pd.DataFrame({"customer_id": [1, 2, 2, 1, 1],
                          "timestamp": [DAY + pd.Timedelta(days=d) for d in (60, 60, 0, 70, 60)]})

    def fit(db: Database) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        builder = TemporalFeatureBuilder(depth=2, windows=[30], last_n=(1, 2), max_features=None)
        train = builder.fit_transform(db, "customers", frame)
        later = builder.transform(db, frame.assign(timestamp=frame["timestamp"] + pd.Timedelta(days=45)))
        return train, later, builder.to_dict()

    duck, spark = _both(small_shop, fit, request)
    assert duck[2] == spark[2]  # windows, centring constants, dominant and category values
    assert_same_features(duck[0], spark[0])
    assert_same_features(duck[1], spark[1])
    assert duck[0].shape[1] > 50


@pytest.mark.parametrize("through_files", [False, True])
def test_random_shop_features_agree_for_a_timed_entity(through_files: bool, request: pytest.FixtureRequest,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``orders`` as the entity: a timed entity, its parents and the streams anchored at them.

    ``through_files``: the path a large database takes, in chunks, every registered table and
    every feature result passing through Parquet files instead of the driver's memory.
    """
    if through_files:
        from relgraph.baselines import feature_batch
        from relgraph.engines import spark_engine

        monkeypatch.setattr(feature_batch, "FEATURE_CHUNK_ROWS", 5)
        monkeypatch.setattr(feature_batch, "LARGE_RESULT_ROWS", 0)
        monkeypatch.setattr(spark_engine, "REGISTER_IN_MEMORY_ROWS", 0)
    rng = np.random.default_rng(7)
    db_duck = random_shop(rng)
    ids = db_duck.table("orders").column("order_id").to_numpy()
    frame = pd.DataFrame({"order_id": rng.choice(ids, 12),
                          "timestamp": DAY + pd.to_timedelta(rng.integers(-5, 230, 12), "D")})

    def fit(db: Database) -> tuple[pd.DataFrame, dict]:
        builder = TemporalFeatureBuilder(depth=2, windows=[7, 30], last_n=(1, 3), max_features=None)
        return builder.fit_transform(db, "orders", frame), builder.to_dict()

    duck, spark = _both(lambda: random_shop(np.random.default_rng(7)), fit, request)
    assert duck[1] == spark[1]
    assert_same_features(duck[0], spark[0])


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
@pytest.mark.parametrize("entity", ["customers", "orders"])
def test_features_unchanged_when_future_rows_are_deleted(engine: str, entity: str, request: pytest.FixtureRequest) -> None:
    """Leakage, on both engines: a feature row for (entity, t) equals the one computed on db.cut(t)."""
    rng = np.random.default_rng(11)
    db = _engine(random_shop(rng), engine, request)
    key = {"customers": "customer_id", "orders": "order_id"}[entity]
    ids = db.table(entity).column(key).to_numpy()
    days = np.array([40, 120, 200])
    frame = pd.DataFrame({key: rng.choice(ids, len(days)),
                          "timestamp": DAY + pd.to_timedelta(days, "D") + pd.Timedelta(hours=12)})
    builder = TemporalFeatureBuilder(depth=2, windows=[7, 30], last_n=(1, 3), max_features=None)
    full = builder.fit_transform(db, entity, frame)
    for t in frame["timestamp"].unique()[:2]:
        rows = frame[frame["timestamp"] <= t]
        cut = db.cut(np.datetime64(t))
        assert cut.engine == engine
        assert_same_features(full.loc[rows.index], builder.transform(cut, rows))


def test_current_parent_features_agree(request: pytest.FixtureRequest) -> None:
    """The customers' current store (as-of lookup on the engine) and its features, both engines."""
    from relgraph.baselines.current_parents import CurrentParents

    rng = np.random.default_rng(5)
    ids = random_shop(np.random.default_rng(5)).table("customers").column("customer_id").to_numpy()
    frame = pd.DataFrame({"customer_id": rng.choice(ids, 10),
                          "timestamp": DAY + pd.to_timedelta(rng.integers(-5, 230, 10), "D")})

    def fit(db: Database) -> pd.DataFrame:
        return CurrentParents(include=None).fit(db, "customers", frame, "customer_id").columns_for(db, frame)

    duck, spark = _both(lambda: random_shop(np.random.default_rng(5)), fit, request)
    assert duck.shape[1] > 10 and duck.notna().any().any()
    assert_same_features(duck, spark)


REL_F1 = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "rel-f1"


@pytest.mark.shared
@pytest.mark.slow  # ~13 min of Spark planning on 2 busy cores: run with -m slow
def test_rel_f1_driver_dnf_features_agree(request: pytest.FixtureRequest) -> None:
    """rel-f1 driver-dnf: fitted on the last training dates, then the first validation rows
    (depth 1: the drivers' results, standings and qualifying streams, to keep Spark's time short)."""
    if not (REL_F1 / "db").exists():
        pytest.skip(f"rel-f1 not found at {REL_F1}")
    tasks = REL_F1 / "tasks" / "driver-dnf"
    train = pd.read_parquet(tasks / "train.parquet").rename(columns={"date": "timestamp"})
    val = pd.read_parquet(tasks / "val.parquet").rename(columns={"date": "timestamp"})
    train = train[train["timestamp"] >= sorted(train["timestamp"].unique())[-8]]
    val = val[val["timestamp"] <= sorted(val["timestamp"].unique())[3]]

    def fit(db: Database) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        builder = TemporalFeatureBuilder(depth=1, max_features=None)
        return builder.fit_transform(db, "drivers", train), builder.transform(db, val), builder.to_dict()

    duck, spark = _both(lambda: relgraph.connect(REL_F1 / "db"), fit, request)
    assert duck[2] == spark[2]
    assert duck[0].shape[1] > 150
    assert_same_features(duck[0], spark[0])
    assert_same_features(duck[1], spark[1])


def test_lightgbm_through_the_public_api_runs_on_the_database_engine(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """``relgraph.train(db on spark, query, model="lightgbm")``: features built on Spark (the
    builder's cache holds Spark running tables), predictions as on DuckDB."""
    from shop_task import shop_database

    from relgraph.baselines import aggregates

    request.getfixturevalue("spark")
    query = "PREDICT COUNT(orders.*, 0, 20, days) > 0 FOR EACH customers.customer_id"
    at = pd.Timestamp("2023-10-01")
    runs, predictions = {}, {}
    for engine in ("duckdb", "spark"):
        db = shop_database().with_engine(engine)
        runs[engine] = relgraph.train(db, query, model="lightgbm", out=tmp_path / engine)
        assert any(key.startswith(f"{engine}|") for key in aggregates._RUNNING_CACHE.get(db, {}))
        predictions[engine] = runs[engine].predict(db, at=at)  # re-runs the builder on db's engine
    assert runs["spark"].metrics["test"] == pytest.approx(runs["duckdb"].metrics["test"], rel=1e-6)
    pd.testing.assert_frame_equal(predictions["spark"], predictions["duckdb"], rtol=1e-6)
