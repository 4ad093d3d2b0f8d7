"""TemporalFeatureBuilder: values worked out by hand, no leakage, persistence, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shop_fixtures import make_shop, random_shop, small_shop

from relgraph.baselines.aggregates import TemporalFeatureBuilder, clear_feature_cache
from relgraph.database import Database
from relgraph.errors import QueryError

DAY = pd.Timestamp("2024-01-01")


def _frame(rows: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [c for c, _ in rows], "timestamp": [DAY + pd.Timedelta(days=d) for _, d in rows]})


def _builder() -> TemporalFeatureBuilder:
    return TemporalFeatureBuilder(depth=2, windows=[30], last_n=(1, 2), max_features=None)


def test_features_match_hand_computed_values(shop) -> None:
    frame = _frame([(1, 60), (2, 60), (2, 0), (1, 70)])
    x = _builder().fit_transform(shop, "customers", frame)
    c1, c2, c2_early, c1_late = x.iloc[0], x.iloc[1], x.iloc[2], x.iloc[3]
    # Customer 1 at day 60 sees orders 101 (d0, 10, ok), 102 (d40, 20, ok), 103 (d50, 60, late),
    # 104 (d55, 30, ok); order 105 (d100) is in the future.
    expected = {
        "customers.age": 30.0,
        "customers.signup.age_days": 160.0,
        "orders.count": 4,
        "orders.days_since_last": 5.0,
        "orders.days_since_first": 60.0,
        "orders.count.30d": 3,
        "orders.amount.sum": 120.0,
        "orders.amount.mean": 30.0,
        "orders.amount.min": 10.0,
        "orders.amount.max": 60.0,
        "orders.amount.last": 30.0,
        "orders.amount.std": float(np.std([10, 20, 60, 30], ddof=1)),
        "orders.amount.mean.30d": 110.0 / 3,
        "orders.amount.std.30d": float(np.std([20, 60, 30], ddof=1)),
        # The 30-day window (day 30, day 60] holds orders 102, 103, 104.
        "orders.amount.sum.30d": 110.0,
        "orders.amount.min.30d": 20.0,
        "orders.amount.max.30d": 60.0,
        "orders.amount.mean.last2": 45.0,
        "orders.amount.min.last2": 30.0,
        "orders.amount.max.last2": 60.0,
        "orders.stores.size.mean": 150.0,  # stores 10, 20, 10, 10
        "orders.status.ok.count": 3,
        "orders.status.late.count.30d": 1,
        "orders.status.ok.share.last2": 0.5,
        # Recency per category value: the last ok order is 104 (d55), the last late one 103 (d50).
        "orders.status.ok.days_since_last": 5.0,
        "orders.status.late.days_since_last": 10.0,
        # Store size is mostly 100 (store 10); the last order elsewhere is 102 (d40, store 20, 300).
        "orders.stores.size.ne100.days_since_last": 20.0,
        # items of orders 101 (4, 6) and 103 (60); order 105's item is in the future.
        "orders.items.count": 3,
        "orders.items.price.sum": 70.0,
        "orders.items.price.last": 60.0,
        # Only order 103's item (day 50) is in the 30-day window.
        "orders.items.price.sum.30d": 60.0,
        "orders.items.price.min.30d": 60.0,
        "orders.items.price.max.30d": 60.0,
        # review of order 102 at day 45; the one at day 70 is in the future.
        "orders.reviews.count": 1,
        "orders.reviews.stars.mean": 5.0,
        "orders.reviews.days_since_last": 15.0,
    }
    for name, value in expected.items():
        assert c1[name] == pytest.approx(value), name
    assert c1["customers.segment"] == "a"
    assert c1["orders.status.mode"] == "ok"
    assert c1["orders.status.last"] == "ok"
    # Customer 2: one order (d1, 5, late) by day 60, none by day 0.
    assert c2["orders.count"] == 1 and c2["orders.amount.mean"] == 5.0
    assert np.isnan(c2["orders.amount.std"]) and c2["orders.count.30d"] == 0
    assert np.isnan(c2["orders.amount.mean.30d"])
    assert c2["orders.status.last"] == "late"
    assert np.isnan(c2["orders.status.ok.days_since_last"]) and c2["orders.status.late.days_since_last"] == 59.0
    for agg in ("sum", "min", "max"):  # order 201 (day 1) is outside (day 30, day 60]
        assert np.isnan(c2[f"orders.amount.{agg}.30d"]) and np.isnan(c2_early[f"orders.amount.{agg}.30d"])
    assert c2_early["orders.count"] == 0
    assert np.isnan(c2_early["orders.amount.mean"]) and np.isnan(c2_early["orders.days_since_last"])
    # Customer 1 at day 70: the window (day 40, day 70] leaves out order 102 (exactly day 40, 20)
    # and keeps 103 (60) and 104 (30); order 105 (day 100) is in the future.
    assert c1_late["orders.count.30d"] == 2
    assert (c1_late["orders.amount.sum.30d"], c1_late["orders.amount.min.30d"], c1_late["orders.amount.max.30d"]) == (90.0, 30.0, 60.0)


def test_timestamps_give_their_age_and_the_days_since_their_last_anniversary(shop) -> None:
    """Customer 1 signed up 100 days before DAY: at day 60 the age is 160 days, at day 400 it is
    500 days, a year (365.2425 days) and 134.7575 days."""
    x = _builder().fit_transform(shop, "customers", _frame([(1, 60), (1, 400)]))
    assert x["customers.signup.age_days"].tolist() == [160.0, 500.0]
    assert x["customers.signup.days_since_anniversary"].to_numpy() == pytest.approx([160.0, 134.7575])


def test_window_min_max_alone_under_include(shop) -> None:
    """Window MIN / MAX need no running columns: computed alone they give the same values."""
    frame = _frame([(1, 60), (1, 70), (2, 60)])
    x = TemporalFeatureBuilder(windows=[30], max_features=None, include=r"amount\.m(in|ax)\.30d$").fit_transform(shop, "customers", frame)
    assert list(x.columns) == ["orders.amount.min.30d", "orders.amount.max.30d"]
    np.testing.assert_array_equal(x["orders.amount.min.30d"].to_numpy(), [20.0, 30.0, np.nan])
    np.testing.assert_array_equal(x["orders.amount.max.30d"].to_numpy(), [60.0, 60.0, np.nan])


def test_feature_names_say_what_they_are(shop) -> None:
    x = TemporalFeatureBuilder(windows=[30, 90], last_n=(1, 3, 5, 10), max_features=None).fit_transform(shop, "customers", _frame([(1, 60)]))
    for name in ("orders.amount.mean.90d", "orders.amount.mean.last10", "orders.count.30d", "orders.amount.std.last10"):
        assert name in x.columns


def test_duplicated_rows_and_frame_order_are_kept(shop) -> None:
    b = _builder()
    b.fit(shop, "customers", _frame([(1, 60), (2, 60)]))
    frame = _frame([(2, 60), (1, 60), (2, 60), (1, 10)]).set_index(pd.Index([7, 3, 5, 1]))
    x = b.transform(shop, frame)
    assert list(x.index) == [7, 3, 5, 1]
    assert list(x["orders.count"]) == [1, 4, 1, 1]


def test_large_frames_are_featurised_in_chunks_with_the_same_values(shop, monkeypatch) -> None:
    """Frames past FEATURE_CHUNK_ROWS distinct rows go through in chunks: same values, same order."""
    from relgraph.baselines import aggregates, feature_batch, feature_small

    frame = _frame([(c, d) for d in (0, 10, 60, 70, 90) for c in (1, 2)] + [(2, 60), (1, 10)])
    frame.index = pd.Index(range(100, 100 + len(frame)))
    b = _builder().fit(shop, "customers", frame)
    whole = b.transform(shop, frame)
    aggregates.clear_feature_cache()
    monkeypatch.setattr(feature_small, "SMALL_BATCH_ROWS", 0)  # the batch path, chunked
    monkeypatch.setattr(feature_batch, "FEATURE_CHUNK_ROWS", 3)
    monkeypatch.setattr(feature_batch, "RUNNING_CACHE_MAX_BYTES", 0)  # and running tables dropped after use
    chunked = b.transform(shop, frame)
    assert not aggregates._RUNNING_CACHE.get(shop)
    assert list(chunked.index) == list(frame.index)
    _assert_same_features(whole, chunked)
    assert any(isinstance(dtype, pd.CategoricalDtype) for dtype in chunked.dtypes)


def _assert_same_features(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if isinstance(a[col].dtype, pd.CategoricalDtype):
            assert a[col].astype(object).tolist() == b[col].astype(object).tolist(), col
        else:
            np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-9, atol=1e-9, err_msg=col)


@pytest.mark.parametrize("depth", [0, 2])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), entity=st.sampled_from(["customers", "orders"]))
def test_features_unchanged_when_future_rows_are_deleted(depth: int, seed: int, entity: str) -> None:
    """Leakage: a feature row for (entity, t) equals the one computed on the database cut at t.

    ``orders`` as the entity exercises a timed entity, its parents (customers, stores) and the
    streams anchored at a parent (the customer's other orders); depth 0 its own columns only.
    """
    rng = np.random.default_rng(seed)
    db = random_shop(rng)
    key = {"customers": "customer_id", "orders": "order_id"}[entity]
    ids = db.table(entity).column(key).to_numpy()
    days = rng.integers(-5, 230, 4)
    frame = pd.DataFrame({
        key: rng.choice(ids, len(days)),
        "timestamp": DAY + pd.to_timedelta(days, "D") + pd.to_timedelta(rng.integers(0, 2, len(days)) * 12, "h"),
    })
    builder = TemporalFeatureBuilder(depth=depth, windows=[7, 30], last_n=(1, 3), max_features=None)
    full = builder.fit_transform(db, entity, frame)
    for t in frame["timestamp"].unique():
        rows = frame[frame["timestamp"] == t]
        cut = builder.transform(db.cut(np.datetime64(t)), rows)
        _assert_same_features(full.loc[rows.index], cut)


def test_timed_entity_sees_its_parents_and_their_streams(shop) -> None:
    frame = pd.DataFrame({"order_id": [103, 103], "timestamp": [DAY + pd.Timedelta(days=60), DAY + pd.Timedelta(days=45)]})
    x = TemporalFeatureBuilder(windows=[30], last_n=(1, 2), max_features=None).fit_transform(shop, "orders", frame)
    # Order 103 (day 50, customer 1, store 10): at day 60 it exists; at day 45 it does not yet.
    assert x.iloc[0]["orders.amount"] == 60.0 and x.iloc[0]["orders.age_days"] == pytest.approx(10.0)
    assert x.iloc[0]["orders.customers.age"] == 30.0 and x.iloc[0]["orders.stores.size"] == 100.0
    assert x.iloc[0]["orders.customers.orders.count"] == 4  # the customer's orders by day 60
    assert np.isnan(x.iloc[1]["orders.amount"]) and np.isnan(x.iloc[1]["orders.customers.age"])
    assert x.iloc[0]["items.count"] == 1 and x.iloc[0]["items.price.sum"] == 60.0


def test_depth_zero_keeps_the_entity_own_columns_only(shop) -> None:
    """depth=0 (RelBench's LightGBM setting): own columns and age, no parents, no event streams."""
    x = TemporalFeatureBuilder(depth=0, max_features=None).fit_transform(shop, "customers", _frame([(1, 60), (2, 0)]))
    assert list(x.columns) == ["customers.age", "customers.segment", "customers.signup.age_days"]
    assert x.iloc[0]["customers.age"] == 30.0 and x.iloc[0]["customers.segment"] == "a"
    assert x.iloc[1]["customers.signup.age_days"] == pytest.approx(10.0)
    frame = pd.DataFrame({"order_id": [103, 103], "timestamp": [DAY + pd.Timedelta(days=60), DAY + pd.Timedelta(days=45)]})
    x = TemporalFeatureBuilder(depth=0, max_features=None).fit_transform(shop, "orders", frame)
    assert list(x.columns) == ["orders.amount", "orders.status", "orders.age_days"]
    # Order 103 (day 50) exists at day 60, not yet at day 45.
    assert x.iloc[0]["orders.amount"] == 60.0 and x.iloc[0]["orders.age_days"] == pytest.approx(10.0)
    assert np.isnan(x.iloc[1]["orders.amount"]) and np.isnan(x.iloc[1]["orders.age_days"])


def test_pruning_keeps_useful_features_and_writes_the_list(tmp_path) -> None:
    rng = np.random.default_rng(0)
    db = random_shop(rng)
    customers = db.table("customers").column("customer_id").to_numpy()
    frame = pd.DataFrame({"customer_id": rng.choice(customers, 300),
                          "timestamp": DAY + pd.to_timedelta(rng.integers(0, 200, 300), "D")})
    full = TemporalFeatureBuilder(max_features=None).fit_transform(db, "customers", frame)
    # A label that is a feature: pruning must keep that feature.
    frame["label"] = (full["orders.count"] > full["orders.count"].median()).astype(int)
    builder = TemporalFeatureBuilder(max_features=5)
    x = builder.fit_transform(db, "customers", frame, task_type="binary")
    assert 1 <= x.shape[1] <= 5 and "orders.count" in x.columns
    builder.save(tmp_path)
    loaded = TemporalFeatureBuilder.load(tmp_path)
    assert loaded.features_ == list(x.columns)
    _assert_same_features(builder.transform(db, frame), loaded.transform(db, frame))


def test_windows_auto_follow_the_gap_between_events(shop) -> None:
    b = TemporalFeatureBuilder(max_features=None).fit(shop, "customers", _frame([(1, 60)]))
    assert b.windows_ and all(w in (7, 30, 90, 365) for w in b.windows_)


def test_windows_auto_are_chosen_from_rows_up_to_the_last_training_time() -> None:
    """Orders 100 days apart up to the training rows' time, daily afterwards: the windows follow
    the past (a median gap of 100 days keeps only 365 d) and are the same on the database cut there."""
    day = pd.Timestamp("2024-01-01")
    past = [day + pd.Timedelta(days=100 * i) for i in range(5)]
    future = [past[-1] + pd.Timedelta(days=i) for i in range(1, 60)]
    ts = past + future
    customers = pd.DataFrame({"customer_id": [1], "age": [30.0], "segment": ["a"], "signup": [day - pd.Timedelta(days=1)]})
    stores = pd.DataFrame({"store_id": [10], "size": [1.0]})
    orders = pd.DataFrame({"order_id": np.arange(len(ts)), "customer_id": 1, "store_id": 10, "amount": 1.0, "status": "ok", "ts": ts})
    items = pd.DataFrame({"item_id": [1], "order_id": [0], "price": [1.0]})
    reviews = pd.DataFrame({"review_id": [1], "order_id": [0], "stars": [5.0], "ts": [day]})
    db = make_shop(customers, stores, orders, items, reviews)
    frame = pd.DataFrame({"customer_id": [1], "timestamp": [past[-1]]})
    full = TemporalFeatureBuilder(max_features=None).fit(db, "customers", frame)
    cut = TemporalFeatureBuilder(max_features=None).fit(db.cut(np.datetime64(past[-1])), "customers", frame)
    assert full.windows_ == cut.windows_ == [365]


def test_bad_input_raises_one_line_errors(shop) -> None:
    with pytest.raises(QueryError, match="timestamp"):
        _builder().fit(shop, "customers", pd.DataFrame({"customer_id": [1]}))
    with pytest.raises(QueryError, match="not in the database"):
        _builder().fit(shop, "nope", _frame([(1, 1)]), entity_key="customer_id")
    with pytest.raises(QueryError, match="before fit"):
        _builder().transform(shop, _frame([(1, 1)]))
    with pytest.raises(QueryError, match="depth=-1"):
        TemporalFeatureBuilder(depth=-1)


def test_baselines_import_without_torch() -> None:
    code = "import sys, relgraph.baselines; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def _fitted_state(db: Database, entity: str, frame: pd.DataFrame) -> dict:
    builder = TemporalFeatureBuilder(depth=1, windows="auto", last_n=(1,), max_features=None)
    return builder.fit(db, entity, frame).to_dict()["state"]


def _late_refund_shop() -> Database:
    """The small shop with order 105 (day 100, the only one after day 60) in a status of its own."""
    shop = small_shop()
    orders = shop.table("orders").to_pandas()
    orders.loc[orders["order_id"] == 105, "status"] = "refund"
    return make_shop(*(shop.table(t).to_pandas() for t in ("customers", "stores")), orders,
                     *(shop.table(t).to_pandas() for t in ("items", "reviews")))


@pytest.mark.parametrize("entity", ["customers", "orders"])
def test_a_value_first_seen_after_the_last_training_time_is_not_fitted(entity: str) -> None:
    """Category values come from rows up to the last training time: a status first seen on day
    100 is in no vocabulary fitted on day-60 rows, of the orders stream (customers) or of the
    entity's own column (orders), and the fitted state is the one fitted on the database cut at day 60."""
    db = _late_refund_shop()
    key = {"customers": "customer_id", "orders": "order_id"}[entity]
    frame = pd.DataFrame({key: db.table(entity).column(key).to_numpy()[:2], "timestamp": DAY + pd.Timedelta(days=60)})
    state = _fitted_state(db, entity, frame)
    assert "refund" not in json.dumps(state["categories"])
    assert state == _fitted_state(db.cut(np.datetime64(DAY + pd.Timedelta(days=60))), entity, frame)


@pytest.mark.parametrize("entity", ["customers", "orders"])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_fitted_state_equals_the_state_fitted_on_the_database_cut_at_the_last_training_time(entity: str, seed: int) -> None:
    """Windows, centring constants, dominant values and category values of every stream and
    lookup: fitting on ``db`` and on ``db.cut(last training time)`` gives the same state."""
    rng = np.random.default_rng(seed)
    db = random_shop(rng)
    key = {"customers": "customer_id", "orders": "order_id"}[entity]
    ids = db.table(entity).column(key).to_numpy()
    frame = pd.DataFrame({key: rng.choice(ids, 5), "timestamp": DAY + pd.to_timedelta(rng.integers(0, 200, 5), "D")})
    horizon = np.datetime64(frame["timestamp"].max())
    assert _fitted_state(db, entity, frame) == _fitted_state(db.cut(horizon), entity, frame)


def test_fitted_state_check_has_teeth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams fitted on every row (the horizon filter dropped) fail the check above."""
    db = _late_refund_shop()
    frame = _frame([(1, 60), (2, 60)])
    cut = db.cut(np.datetime64(DAY + pd.Timedelta(days=60)))
    assert _fitted_state(db, "customers", frame) == _fitted_state(cut, "customers", frame)
    fit_stream = TemporalFeatureBuilder._fit_stream
    monkeypatch.setattr(TemporalFeatureBuilder, "_fit_stream",
                        lambda self, con, s, horizon, source: fit_stream(self, con, s, pd.Timestamp("2200-01-01"), source))
    clear_feature_cache()  # fits of the same frame on the same database are remembered
    assert _fitted_state(db, "customers", frame) != _fitted_state(cut, "customers", frame)
