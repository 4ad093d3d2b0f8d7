"""Churn on a DVD-rental-shaped database (tests/dvd_rental.py) with the cutoffs users pass: LightGBM and
auto train. The class that broke them: a current parent (inventory, through rentals) with no
recent-form number to offer, whose feature builder kept no feature and returned no rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dvd_rental import QUERY, TEST_CUTOFF, VAL_CUTOFF, write_dvd_rental

import relgraph
from relgraph.baselines import TemporalFeatureBuilder
from relgraph.baselines.current_parents import CurrentParents, parent_links
from relgraph.gnn.predictor import GNNConfig
from relgraph.query import build_task


@pytest.fixture(scope="module")
def dvd(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_dvd_rental(tmp_path_factory.mktemp("dvd") / "dvdrental.db")


def test_a_builder_that_keeps_no_feature_still_gives_one_row_per_frame_row(dvd: str) -> None:
    db = relgraph.connect(dvd)
    # Duplicated (key, time) pairs share a computed row: the frame order must still come back.
    frame = pd.DataFrame({"inventory_id": [3, 3, 5, 7, 3],
                          "timestamp": pd.to_datetime(["2005-07-01", "2005-07-01", "2005-07-01", "2005-07-02", "2005-07-03"])},
                         index=[10, 11, 12, 13, 14])
    out = TemporalFeatureBuilder(depth=1, include="no feature has this name", max_features=None).fit_transform(
        db, "inventory", frame, "inventory_id")
    assert out.shape == (5, 0) and list(out.index) == [10, 11, 12, 13, 14]


def test_a_parent_without_recent_form_numbers_gives_no_columns(dvd: str) -> None:
    db = relgraph.connect(dvd)
    task = build_task(db, QUERY, val_cutoff=VAL_CUTOFF, test_cutoff=TEST_CUTOFF)
    assert [link.parent for link in parent_links(db, "customer")] == ["inventory", "staff"]
    current = CurrentParents().fit(db, "customer", task.train, "customer_id", task.task_type)
    assert [link.parent for link in current.links_] == ["staff"]
    assert current.columns_ and all(c.startswith("current_staff.") for c in current.columns_)
    columns = current.columns_for(db, task.val)
    assert columns.shape == (len(task.val), len(current.columns_)) and columns.index.equals(task.val.index)


@pytest.mark.parametrize("model", ["lightgbm", "auto"])
def test_churn_trains_with_the_cutoffs_users_pass(dvd: str, model: str, tmp_path: Path) -> None:
    config = GNNConfig(hidden=8, fanouts=[4, 2], epochs=1, graph_cache_dir=None, num_threads=1)
    run = relgraph.train(dvd, QUERY, model=model, out=tmp_path / model, val_cutoff=VAL_CUTOFF,
                         test_cutoff=TEST_CUTOFF, gnn_config=config)
    assert run is not None and run.metrics["task"] == "binary"
    assert np.isfinite(run.metrics["test"]["auroc"])
    predictions = pd.read_parquet(tmp_path / model / "predictions.parquet")
    assert len(predictions) > 0 and predictions.notna().all().all()
