"""The small-batch feature path (a handful of entities) equals the batch path, and sees no future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shop_fixtures import random_shop

from relgraph.baselines import feature_small
from relgraph.baselines.aggregates import TemporalFeatureBuilder, clear_feature_cache
from relgraph.database import Database
from relgraph.engines import engine_for

DAY = pd.Timestamp("2024-01-01")


def transform_on_small_path(builder: TemporalFeatureBuilder, db: Database, frame: pd.DataFrame,
                            monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    """``builder.transform(db, frame)`` from cold caches; fails unless the small-batch path answered."""
    calls = []
    few = feature_small._SmallBatchTransform._transform_few

    def spy(self, *args):  # type: ignore[no-untyped-def]
        out = few(self, *args)
        calls.append(out is not None)
        return out

    with monkeypatch.context() as m:
        m.setattr(feature_small._SmallBatchTransform, "_transform_few", spy)
        clear_feature_cache()
        features = builder.transform(db, frame)
    assert calls == [True], "the small-batch path did not answer"
    return features


def _both_paths(builder: TemporalFeatureBuilder, db: Database, frame: pd.DataFrame,
                monkeypatch: pytest.MonkeyPatch) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(small-batch, batch) features of ``frame``, each from cold caches; fails unless the small
    path answered the first."""
    small = transform_on_small_path(builder, db, frame, monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(feature_small, "SMALL_BATCH_ROWS", 0)
        clear_feature_cache()
        batch = builder.transform(db, frame)
    clear_feature_cache()
    return small, batch


def assert_same(small: pd.DataFrame, batch: pd.DataFrame) -> None:
    """Same columns, dtypes and index; floats within 1e-9 (missing where missing); same categories."""
    assert list(small.columns) == list(batch.columns)
    assert list(small.index) == list(batch.index)
    for c in batch.columns:
        assert small[c].dtype == batch[c].dtype, c
        if isinstance(batch[c].dtype, pd.CategoricalDtype):
            assert small[c].astype(object).equals(batch[c].astype(object)), c
        else:
            np.testing.assert_allclose(small[c].to_numpy(), batch[c].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=c)


def _frame(key: str, rows: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame({key: [k for k, _ in rows], "timestamp": [DAY + pd.Timedelta(days=d) for _, d in rows]})


def test_small_path_equals_batch_path_on_the_shop(shop, monkeypatch) -> None:
    """Customers and orders (a timed entity whose streams hang off its parents): rows before
    the first event, a duplicate, an entity without orders at that time, ties with event times."""
    for entity, key, rows in [
        ("customers", "customer_id", [(1, 60), (2, 60), (2, 0), (1, -50), (1, 60), (1, 55), (2, 300)]),
        ("orders", "order_id", [(103, 60), (103, 45), (201, 1), (105, 200), (101, 0)]),
    ]:
        train = _frame(key, rows)
        builder = TemporalFeatureBuilder(depth=2, windows=[7, 30], last_n=(1, 3), max_features=None).fit(shop, entity, train)
        frame = _frame(key, rows).set_index(pd.Index(range(10, 10 + len(rows))))
        small, batch = _both_paths(builder, shop, frame, monkeypatch)
        assert_same(small, batch)
        assert any(isinstance(d, pd.CategoricalDtype) for d in small.dtypes)
        plan = builder._small_plan(shop, engine_for(shop))
        assert plan.streams and all(sp.compiled for sp in plan.streams)  # the NumPy evaluation answered
        # Expressions the compiler does not know: the feature statement runs on DuckDB, same values.
        with monkeypatch.context() as m:
            m.setattr(feature_small, "compile_feature", _uncompilable)
            small_sql, _ = _both_paths(builder, shop, frame, monkeypatch)
            assert not any(sp.compiled for sp in builder._small_plan(shop, engine_for(shop)).streams)
        assert_same(small_sql, batch)
        # Running tables too large to copy to NumPy: their rows are gathered per call, same values.
        with monkeypatch.context() as m:
            m.setattr(feature_small, "NUMPY_COPY_MAX_BYTES", 0)
            small_gathered, _ = _both_paths(builder, shop, frame, monkeypatch)
        assert_same(small_gathered, batch)
        clear_feature_cache()


def _uncompilable(sql: str):  # type: ignore[no-untyped-def]
    raise feature_small.Uncompilable(sql)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), entity=st.sampled_from(["customers", "orders"]),
       rows=st.lists(st.tuples(st.integers(0, 6), st.integers(-30, 240)), min_size=1, max_size=8))
def test_small_path_equals_batch_path_on_random_shops(seed, entity, rows, monkeypatch) -> None:
    """Random databases (ties in time, missing values, entities with no events) and frames with
    duplicate rows, times before any event and after the last."""
    db = random_shop(np.random.default_rng(seed))
    key = {"customers": "customer_id", "orders": "order_id"}[entity]
    ids = db.table(entity).column(key).to_numpy()
    frame = pd.DataFrame({key: [ids[i % len(ids)] for i, _ in rows],
                          # some times off whole microseconds: epoch() floors nanoseconds
                          "timestamp": [DAY + pd.Timedelta(hours=12 * h) + pd.Timedelta(nanoseconds=(h * 7919) % 3 * 1500)
                                        for _, h in rows]})
    builder = TemporalFeatureBuilder(depth=2, windows=[7, 30], last_n=(1, 3), max_features=None).fit(db, entity, frame)
    small, batch = _both_paths(builder, db, frame, monkeypatch)
    assert_same(small, batch)


def test_small_path_sees_nothing_after_the_prediction_time(monkeypatch) -> None:
    """Features at ``t`` on ``db`` and on ``db.cut(t)`` are equal (both through the small path)."""
    db = random_shop(np.random.default_rng(3))
    ids = db.table("customers").column("customer_id").to_numpy()
    train = pd.DataFrame({"customer_id": ids, "timestamp": DAY + pd.Timedelta(days=100)})
    builder = TemporalFeatureBuilder(depth=2, windows=[7, 30], last_n=(1, 3), max_features=None).fit(db, "customers", train)
    for days in (5, 60, 150):
        t = DAY + pd.Timedelta(days=days)
        frame = pd.DataFrame({"customer_id": ids, "timestamp": t})
        whole, _ = _both_paths(builder, db, frame, monkeypatch)
        cut, _ = _both_paths(builder, db.cut(np.datetime64(t)), frame, monkeypatch)
        assert_same(whole, cut)


def test_large_frames_take_the_batch_path(shop, monkeypatch) -> None:
    """Past SMALL_BATCH_ROWS distinct rows the batch path runs, with the same features."""
    rows = [(c, d) for d in range(0, 90, 10) for c in (1, 2)]
    builder = TemporalFeatureBuilder(depth=2, windows=[30], last_n=(1, 2), max_features=None).fit(shop, "customers", _frame("customer_id", rows))
    monkeypatch.setattr(feature_small, "SMALL_BATCH_ROWS", 4)
    called = []
    monkeypatch.setattr(feature_small._SmallBatchTransform, "_transform_few", lambda *a: called.append(1))
    clear_feature_cache()
    x = builder.transform(shop, _frame("customer_id", rows))
    assert not called and len(x) == len(rows)
