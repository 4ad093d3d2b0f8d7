"""The entity's own earlier labels as features: known only once their window has ended."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relgraph
from relgraph.baselines.label_context import LabelContext, label_horizon
from relgraph.baselines.lightgbm_model import LightGBMPredictor
from relgraph.demo.generate import make_demo_database
from relgraph.query import build_task, make_training_table, parse

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"


def test_horizon_is_the_target_window_end() -> None:
    assert label_horizon(parse(CHURN)) == pd.Timedelta(days=30)
    assert label_horizon(parse("PREDICT SUM(orders.amount, 0, 2, weeks) FOR EACH customers.customer_id")) == pd.Timedelta(days=14)
    # An attribute of the entity: its label is there at once, so there is no earlier label to use.
    assert label_horizon(parse("PREDICT customers.segment FOR EACH customers.customer_id")) is None


def test_only_labels_whose_window_ended_are_used() -> None:
    day = pd.Timestamp("2024-01-01")
    hist = pd.DataFrame({"id": [1, 1, 1, 2], "timestamp": [day, day + pd.Timedelta(days=10), day + pd.Timedelta(days=20), day],
                         "label": [1.0, 0.0, 1.0, 0.0]})
    ctx = LabelContext(pd.Timedelta(days=10)).fit(hist, "id")
    rows = pd.DataFrame({"id": [1, 1, 1, 2, 3], "timestamp": [day + pd.Timedelta(days=d) for d in (9, 20, 35, 10, 40)]})
    out = ctx.transform(rows)
    assert out["label_ctx.count"].tolist() == [0, 2, 3, 1, 0]  # day 20: the day-10 label just ended, day 20's not
    assert np.isnan(out["label_ctx.last"].iloc[0]) and out["label_ctx.last"].tolist()[1:4] == [0.0, 1.0, 0.0]
    assert out["label_ctx.mean"].iloc[2] == pytest.approx(2 / 3)
    assert out["label_ctx.days_since"].iloc[1] == 10.0 and out["label_ctx.days_since"].iloc[2] == 15.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_database(tmp_path_factory.mktemp("shop") / "demo.db", seed=0, scale=0.05)


def test_context_at_t_is_unchanged_on_the_database_cut_at_t(demo: Path) -> None:
    db = relgraph.connect(f"sqlite:///{demo}")
    query = parse(CHURN)
    task = build_task(db, query)
    horizon = label_horizon(query)
    labelled = pd.concat([task.train, task.val])
    first_test = pd.Timestamp(task.test["timestamp"].min())
    ids = task.test.loc[task.test["timestamp"] == first_test, task.entity_key].to_numpy()
    # On the label grid, and half-way between two label times (windows running at t).
    for t in (first_test, first_test - pd.Timedelta(days=15)):
        rows = pd.DataFrame({task.entity_key: ids, "timestamp": t})
        full = LabelContext(horizon).fit(labelled, task.entity_key).transform(rows)
        assert (full["label_ctx.count"] > 0).mean() > 0.5  # most rows have a known earlier label
        # The same task tables re-made on the database as it was at t: later labels are cut short.
        cut = db.cut(np.datetime64(t))
        times = sorted(ts for ts in labelled["timestamp"].unique() if ts <= t)
        labelled_cut = make_training_table(cut, query, times)
        on_cut = LabelContext(horizon).fit(labelled_cut, task.entity_key).transform(rows)
        pd.testing.assert_frame_equal(full, on_cut)
    # The test has teeth: a context taking labels as known at once reads windows still running at t.
    early_full = LabelContext(pd.Timedelta(seconds=1)).fit(labelled, task.entity_key).transform(rows)
    early_cut = LabelContext(pd.Timedelta(seconds=1)).fit(labelled_cut, task.entity_key).transform(rows)
    assert not early_full.equals(early_cut)


def test_lightgbm_with_label_context_round_trips(demo: Path, tmp_path: Path) -> None:
    db = relgraph.connect(f"sqlite:///{demo}")
    task = build_task(db, CHURN)
    model = LightGBMPredictor(label_context=True, max_configs=1, ensemble=1).fit(db, task)
    assert [c for c in model.meta_["columns"] if c.startswith("label_ctx.")] == LabelContext(pd.Timedelta(1)).columns
    pred = model.predict(db, task.test)
    model.save(tmp_path / "m")
    again = LightGBMPredictor.load(tmp_path / "m")
    np.testing.assert_allclose(again.predict(db, task.test), pred)
    # Without the option (or a horizon) the features are the builder's alone.
    plain = LightGBMPredictor(max_configs=1, ensemble=1).fit(db, task)
    assert not any(c.startswith("label_ctx.") for c in plain.meta_["columns"])
