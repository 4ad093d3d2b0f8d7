"""LightGBMPredictor, TrivialBaseline and RecentFormRule on a small random shop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shop_fixtures import random_shop

from relgraph.baselines import LightGBMPredictor, RecentFormRule, TemporalFeatureBuilder, TrivialBaseline
from relgraph.errors import ModelError, QueryError
from relgraph.query.task import TaskTables

DAY = pd.Timestamp("2024-01-01")


def _task(task_type: str) -> tuple:
    """Per (customer, t): label from the customer's orders in (t, t + 30 days]."""
    rng = np.random.default_rng(1)
    db = random_shop(rng)
    for _ in range(20):  # a shop with enough orders for every split
        if db.table("orders").num_rows >= 20 and db.table("customers").num_rows >= 3:
            break
        db = random_shop(rng)
    orders = db.table("orders").to_pandas()
    customers = db.table("customers").column("customer_id").to_numpy()
    frames = {}
    for split, days in {"train": range(0, 120, 10), "val": range(120, 150, 10), "test": range(150, 200, 10)}.items():
        rows = pd.DataFrame([(c, DAY + pd.Timedelta(days=d)) for d in days for c in customers], columns=["customer_id", "timestamp"])
        merged = rows.merge(orders, on="customer_id", how="left")
        inside = (merged["ts"] > merged["timestamp"]) & (merged["ts"] <= merged["timestamp"] + pd.Timedelta(days=30))
        merged["n"] = inside.astype(int)
        merged["late"] = (inside & (merged["status"] == "late")).astype(int)
        agg = merged.groupby(["customer_id", "timestamp"], as_index=False)[["n", "late"]].sum()
        if task_type == "binary":
            agg["label"] = (agg["n"] > 0).astype(int)
        elif task_type == "regression":
            agg["label"] = agg["n"].astype(float)
        else:
            agg["label"] = np.where(agg["n"] == 0, "none", np.where(agg["late"] > 0, "late", "ok"))
        frames[split] = agg[["customer_id", "timestamp", "label"]]
    return db, TaskTables(task_type, "customers", "customer_id", frames["train"], frames["val"], frames["test"])


def _small_lightgbm() -> LightGBMPredictor:
    builder = TemporalFeatureBuilder(windows=[30], last_n=(1, 3), max_features=20)
    return LightGBMPredictor(seed=0, time_budget_s=0.0, max_configs=1, builder=builder, early_stopping_rounds=5)


@pytest.mark.parametrize("task_type", ["binary", "regression", "multiclass"])
def test_lightgbm_round_trip(task_type: str, tmp_path) -> None:
    db, task = _task(task_type)
    model = _small_lightgbm().fit(db, task)
    pred = model.predict(db, task.test)
    if task_type == "binary":
        assert pred.shape == (len(task.test),) and ((pred >= 0) & (pred <= 1)).all()
    elif task_type == "regression":
        lo, hi = task.train["label"].min(), task.train["label"].max()
        assert ((pred >= lo) & (pred <= hi)).all()
    else:
        assert pred.shape == (len(task.test), len(model.meta_["classes"]))
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-6)
    assert model.feature_importance_ is not None and len(model.feature_importance_) > 0
    model.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"lightgbm_0.txt", "lightgbm.json", "features.json"}
    loaded = LightGBMPredictor.load(tmp_path)
    np.testing.assert_allclose(loaded.predict(db, task.test), pred, rtol=1e-9)


def test_lightgbm_regression_is_clamped_to_training_range() -> None:
    db, task = _task("regression")
    model = _small_lightgbm().fit(db, task)
    model.meta_["label_range"] = [0.25, 0.5]
    pred = model.predict(db, task.test)
    assert pred.min() >= 0.25 and pred.max() <= 0.5


def test_lightgbm_errors() -> None:
    db, task = _task("binary")
    with pytest.raises(ModelError, match="before fit"):
        _small_lightgbm().predict(db, task.test)
    ranking = TaskTables("ranking", "customers", "customer_id", task.train, task.val, task.test)
    with pytest.raises(QueryError, match="ranking"):
        _small_lightgbm().fit(db, ranking)
    with pytest.raises(ModelError, match="missing"):
        LightGBMPredictor.load("/nonexistent/model")


def test_trivial_uses_only_earlier_labels(tmp_path) -> None:
    db, task = _task("binary")
    model = TrivialBaseline().fit(db, task)
    # The first val row of a customer: its rate over the training labels (all earlier).
    row = task.val.iloc[[0]]
    expected = task.train.loc[task.train["customer_id"] == row["customer_id"].iloc[0], "label"].mean()
    assert model.predict(db, row)[0] == pytest.approx(expected)
    # Changing a later label (test) changes nothing.
    changed = TaskTables("binary", "customers", "customer_id", task.train, task.val, task.test.assign(label=1 - task.test["label"]))
    np.testing.assert_allclose(TrivialBaseline().fit(db, changed).predict(db, task.val), model.predict(db, task.val))
    model.save(tmp_path)
    np.testing.assert_allclose(TrivialBaseline.load(tmp_path).predict(db, task.test), model.predict(db, task.test))
    _, reg = _task("regression")
    median = TrivialBaseline().fit(db, reg).predict(db, reg.test)
    assert median == pytest.approx(np.full(len(reg.test), pd.concat([reg.train, reg.val])["label"].median()))


def test_trivial_on_training_labels_reads_nothing_else(tmp_path) -> None:
    """``labels="training"`` (the run report's baseline): training rates / median / frequencies only."""
    db, task = _task("binary")
    model = TrivialBaseline(labels="training").fit(db, task)
    rates = task.train.groupby("customer_id")["label"].mean()
    expected = task.test["customer_id"].map(rates).fillna(task.train["label"].mean()).to_numpy(dtype=float)
    np.testing.assert_array_equal(model.predict(db, task.test), expected)
    # Validation and test labels are never read.
    changed = TaskTables("binary", "customers", "customer_id", task.train, task.val.assign(label=1 - task.val["label"]),
                         task.test.assign(label=1 - task.test["label"]))
    np.testing.assert_array_equal(TrivialBaseline(labels="training").fit(db, changed).predict(db, task.test), expected)
    model.save(tmp_path)
    loaded = TrivialBaseline.load(tmp_path)
    assert loaded.labels == "training"
    np.testing.assert_array_equal(loaded.predict(db, task.test), expected)
    _, reg = _task("regression")
    median = TrivialBaseline(labels="training").fit(db, reg).predict(db, reg.test)
    np.testing.assert_array_equal(median, np.full(len(reg.test), reg.train["label"].astype(float).median()))
    with pytest.raises(ModelError, match="labels='future'"):
        TrivialBaseline(labels="future")


def test_rule_picks_a_recent_form_feature_and_round_trips(tmp_path) -> None:
    db, task = _task("regression")
    rule = RecentFormRule().fit(db, task)
    assert rule.state_["feature"].split(".")[-1].startswith("last")
    pred = rule.predict(db, task.test)
    assert pred.shape == (len(task.test),) and np.isfinite(pred).all()
    rule.save(tmp_path)
    np.testing.assert_allclose(RecentFormRule.load(tmp_path).predict(db, task.test), pred)



def test_shared_bins_give_the_trees_of_a_dataset_per_configuration() -> None:
    """``Binnings``: the bins found once per group of configurations (and copied into each
    configuration's Dataset) give the very trees a Dataset of its own gives."""
    import lightgbm as lgb

    from relgraph.baselines.lightgbm_model import BASE_PARAMS, SEARCH_SPACE, Binnings

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(600, 8)), columns=[f"f{i}" for i in range(8)])
    x["f0"] = np.where(rng.random(600) < 0.2, np.nan, x["f0"])
    y = (x["f1"] + rng.normal(size=600) > 0).astype(float).to_numpy()
    binned = Binnings(x, y)
    for variant in SEARCH_SPACE[:3]:  # two groups of bins: min_data_in_leaf 100 and 200
        params = dict(BASE_PARAMS, **variant, objective="binary", seed=0, num_threads=1, deterministic=True,
                      force_row_wise=True)
        own = lgb.train(params, lgb.Dataset(x, y, free_raw_data=False), num_boost_round=20)
        shared = lgb.train(params, binned.dataset(params)[0], num_boost_round=20)
        assert shared.model_to_string() == own.model_to_string()
    assert len(binned.bins_) == 2


def test_histogram_layout_gives_the_same_trees_by_column_and_by_row() -> None:
    """``histogram_layout``: configurations sampling few features build histograms by column, the
    others by row, on the same shared Dataset; either layout grows the very same trees."""
    import lightgbm as lgb

    from relgraph.baselines.lightgbm_model import BASE_PARAMS, SEARCH_SPACE, Binnings, histogram_layout

    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.normal(size=(800, 30)), columns=[f"f{i}" for i in range(30)])
    x["f3"] = np.where(rng.random(800) < 0.3, np.nan, x["f3"])
    y = (x["f1"] - x["f3"].fillna(0) + rng.normal(size=800) > 0).astype(float).to_numpy()
    binned = Binnings(x, y)
    layouts = set()
    for variant in SEARCH_SPACE:
        params = dict(BASE_PARAMS, **variant, objective="binary", seed=0, num_threads=1, deterministic=True)
        layout = histogram_layout(params)
        layouts.add(next(iter(layout)))
        other = {"force_row_wise": True} if "force_col_wise" in layout else {"force_col_wise": True}
        chosen = lgb.train({**params, **layout}, binned.dataset({**params, **layout})[0], num_boost_round=15)
        flipped = lgb.train({**params, **other}, binned.dataset({**params, **other})[0], num_boost_round=15)
        trees = [b.model_to_string().split("parameters:")[0] for b in (chosen, flipped)]
        assert trees[0] == trees[1]
    assert layouts == {"force_row_wise", "force_col_wise"}
