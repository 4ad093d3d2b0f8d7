"""CurrentParents: the entity's latest parent through an event table, and that parent's features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shop_fixtures import random_shop
from test_models import _small_lightgbm, _task

from relgraph.baselines import TemporalFeatureBuilder
from relgraph.baselines.current_parents import CurrentParents, ParentLink, current_parent, parent_links
from relgraph.baselines.feature_small import numpy_path
from relgraph.baselines.lightgbm_model import LightGBMPredictor

DAY = pd.Timestamp("2024-01-01")
STORE = ParentLink("orders", "customer_id", "store_id", "stores", "store_id")


def d(n: float) -> pd.Timestamp:
    return DAY + pd.Timedelta(days=n)


def test_the_link_is_found_from_the_schema(shop) -> None:
    assert parent_links(shop, "customers") == [STORE]
    # A store's "current customer" (its latest order's); items and reviews have one key each.
    assert parent_links(shop, "stores") == [ParentLink("orders", "store_id", "customer_id", "customers", "customer_id")]
    assert parent_links(shop, "orders") == []  # orders is timed: nothing links it to a static parent


def test_role_named_references_give_no_link(shop) -> None:
    from relgraph.schema.model import ForeignKey

    shop.schema["orders"].foreign_keys.append(ForeignKey("customer_id", "stores", "store_id"))  # a second role
    assert parent_links(shop, "customers") == []


def test_current_parent_is_the_latest_event_at_or_before_t(shop) -> None:
    # Customer 1 ordered at store 10 (day 0), 20 (40), 10 (50, 55), 20 (100); customer 2 at 20 (1).
    keys = pd.Series([1, 1, 1, 1, 1, 2, 2, 3])
    times = pd.Series([d(-1), d(0), d(45), d(50), d(100), d(0), d(1), d(5)])
    got = current_parent(shop, STORE, keys, times)
    assert list(got) == [None, 10, 20, 10, 20, None, 20, None]


@pytest.mark.parametrize("seed", range(6))
def test_numpy_lookup_equals_the_sql_one(seed: int) -> None:
    """Inside ``numpy_path`` (ask's), the lookup over the cached sorted events finds what the
    SQL's finds: ties in time (the largest parent), rows before any event, unknown entities, and
    the same answer on the database cut at each time (the cache holds every row)."""
    rng = np.random.default_rng(seed)
    db = random_shop(rng)
    keys = pd.Series(rng.integers(-1, 6, 40))
    times = pd.Series(DAY + pd.to_timedelta(rng.integers(-5, 210, 40), "D") + pd.to_timedelta(rng.integers(0, 2, 40) * 12, "h"))
    sql = current_parent(db, STORE, keys, times)
    with numpy_path(10_000):
        fast = current_parent(db, STORE, keys, times)
        cut = [current_parent(db.cut(np.datetime64(t)), STORE, keys[[i]], times[[i]])[0] for i, t in enumerate(times)]
    assert list(fast) == list(sql) == cut


def test_columns_are_the_parent_features_at_t_and_missing_without_a_parent(shop) -> None:
    frame = pd.DataFrame({"customer_id": [1, 1, 2, 2], "timestamp": [d(45), d(60), d(0), d(30)]})
    current = CurrentParents(include=None).fit(shop, "customers", frame, "customer_id")
    out = current.columns_for(shop, frame)
    assert current.links_ == [STORE] and all(c.startswith("current_stores.") for c in out.columns)
    assert out.iloc[2].isna().all()  # customer 2 has no order by day 0
    direct = TemporalFeatureBuilder(depth=1, include=None, max_features=None).fit_transform(
        shop, "stores", pd.DataFrame({"store_id": [20, 10, 20], "timestamp": [d(45), d(60), d(30)]}))
    expected = direct[[c.removeprefix("current_stores.") for c in out.columns]].to_numpy(float)
    np.testing.assert_allclose(out.iloc[[0, 1, 3]].to_numpy(float), expected, equal_nan=True)
    assert out.loc[0, "current_stores.orders.count"] == 2  # store 20 by day 45: orders 102, 201


@pytest.mark.parametrize("seed", range(4))
def test_current_parent_columns_unchanged_when_future_rows_are_deleted(seed: int) -> None:
    rng = np.random.default_rng(seed)
    db = random_shop(rng)
    ids = db.table("customers").column("customer_id").to_numpy()
    frame = pd.DataFrame({"customer_id": rng.choice(ids, 6),
                          "timestamp": DAY + pd.to_timedelta(rng.integers(-5, 230, 6), "D")
                          + pd.to_timedelta(rng.integers(0, 2, 6) * 12, "h")})
    current = CurrentParents(include=None).fit(db, "customers", frame, "customer_id")
    full = current.columns_for(db, frame)
    for t in frame["timestamp"].unique():
        rows = frame[frame["timestamp"] == t]
        cut = current.columns_for(db.cut(np.datetime64(t)), rows)
        pd.testing.assert_frame_equal(full.loc[rows.index], cut)


def test_lightgbm_with_current_parents_round_trips(tmp_path) -> None:
    db, task = _task("binary")
    model = _small_lightgbm()
    model.current_parents = "on"
    model.fit(db, task)
    assert model.meta_["current_parents"]["used"] and any(c.startswith("current_") for c in model.meta_["columns"])
    model.save(tmp_path)
    loaded = LightGBMPredictor.load(tmp_path)
    np.testing.assert_allclose(loaded.predict(db, task.test), model.predict(db, task.test))
    auto = _small_lightgbm().fit(db, task)  # "auto": chosen on validation, both scores recorded
    choice = auto.meta_["current_parents"]
    assert choice["val_with"] is not None and choice["used"] == (choice["val_with"] > choice["val_without"])
    off = _small_lightgbm()
    off.current_parents = "off"
    assert off.fit(db, task).meta_["current_parents"] is None


def test_clear_feature_cache_forgets_the_sorted_events_too() -> None:
    """``clear_feature_cache`` (timing from cold) empties every per-database cache of the feature
    code: the current parents' sorted events and the streams' sorted rows included."""
    from relgraph.baselines import clear_feature_cache
    from relgraph.baselines.current_parents import _EVENTS
    from relgraph.baselines.feature_running import _PREPARED, _STREAM_ROWS

    db = random_shop(np.random.default_rng(0))
    frame = pd.DataFrame({"customer_id": [0, 1], "timestamp": [d(100), d(200)]})
    with numpy_path(10_000):
        current_parent(db, STORE, frame["customer_id"], frame["timestamp"])
        TemporalFeatureBuilder().fit_transform(db, "customers", frame, "customer_id")
    assert db in _EVENTS and db in _STREAM_ROWS and db in _PREPARED
    clear_feature_cache()
    assert db not in _EVENTS and db not in _STREAM_ROWS and db not in _PREPARED
