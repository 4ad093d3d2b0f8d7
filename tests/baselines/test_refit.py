"""LightGBM refitted on training + validation rows: used only where every validation label is known."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relgraph
from relgraph.baselines.lightgbm_model import LightGBMPredictor
from relgraph.demo.generate import make_demo_database
from relgraph.query import build_task, make_training_table, parse

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
SMALL = {"max_configs": 2, "ensemble": 2}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_database(tmp_path_factory.mktemp("shop") / "demo.db", seed=0, scale=0.05)


def test_refit_scores_late_rows_and_keeps_validation_out_of_sample(demo: Path, tmp_path: Path) -> None:
    db = relgraph.connect(f"sqlite:///{demo}")
    task = build_task(db, CHURN)
    model = LightGBMPredictor(**SMALL).fit(db, task)
    refit = model.meta_["refit"]
    start = pd.Timestamp(refit["from"])
    assert start == pd.Timestamp(task.val["timestamp"].max()) + pd.Timedelta(days=30)  # the last label's window end
    assert start <= pd.Timestamp(task.test["timestamp"].min())
    assert len(model.refit_boosters_) == len(model.boosters_) and refit["rows"] == len(task.train) + len(task.val)
    assert refit["rounds"] == model.meta_["iterations"]
    training_only = LightGBMPredictor(**SMALL, refit=False).fit(db, task)
    assert training_only.meta_["refit"] is None and not training_only.refit_boosters_
    # Validation rows: scored by the training-only boosters, so the validation score stays honest.
    np.testing.assert_allclose(model.predict(db, task.val), training_only.predict(db, task.val))
    late = model.predict(db, task.test)
    assert not np.allclose(late, training_only.predict(db, task.test))
    model.save(tmp_path / "m")
    np.testing.assert_allclose(LightGBMPredictor.load(tmp_path / "m").predict(db, task.test), late)


def test_no_refit_without_a_label_horizon(demo: Path) -> None:
    db = relgraph.connect(f"sqlite:///{demo}")
    task = build_task(db, CHURN)
    tables_only = dataclasses.replace(task, query=None, parsed=None, extra={})  # task tables given: no label end known
    model = LightGBMPredictor(**SMALL).fit(db, tables_only)
    assert "horizon is unknown" in model.meta_["refit"]["skipped"] and not model.refit_boosters_


def _fit_where_it_predicts(db: relgraph.Database, task: object, horizon: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Predictions at the refit start on the full database, and by a model fitted on the
    database cut there (task tables re-made on it)."""
    model = LightGBMPredictor(**SMALL, label_horizon=horizon).fit(db, task)  # type: ignore[arg-type]
    t = pd.Timestamp(model.meta_["refit"]["from"])
    cut = db.cut(np.datetime64(t))
    query = parse(CHURN)
    remade = dataclasses.replace(
        task,  # type: ignore[type-var]
        train=make_training_table(cut, query, sorted(task.train["timestamp"].unique())),  # type: ignore[attr-defined]
        val=make_training_table(cut, query, sorted(task.val["timestamp"].unique())),  # type: ignore[attr-defined]
    )
    rows = pd.DataFrame({task.entity_key: task.test[task.entity_key].unique(), "timestamp": t})  # type: ignore[attr-defined]
    on_cut = LightGBMPredictor(**SMALL, label_horizon=horizon).fit(cut, remade)
    return model.predict(db, rows), on_cut.predict(cut, rows)


def test_refit_prediction_is_unchanged_on_the_database_cut_where_it_starts(demo: Path) -> None:
    db = relgraph.connect(f"sqlite:///{demo}")
    task = build_task(db, CHURN)
    full, on_cut = _fit_where_it_predicts(db, task, None)
    # Equal up to float summation order (sums run in another order on the smaller database, which
    # can move a bin edge: at most 0.0013 measured) ...
    assert np.abs(full - on_cut).max() < 0.01
    # ... while a refit taking labels as known at once learns from windows still running at t
    # (0.17 at most, 0.08 on average measured): the test has teeth.
    early_full, early_cut = _fit_where_it_predicts(db, task, "1s")
    assert np.abs(early_full - early_cut).max() > 0.05

