"""A run with the GNN refitted (``GNNConfig.refit``): the GNN, the blend and ``auto`` score test
rows with the refitted GNN, while the blend weight and auto's choice are made on validation with
the first GNN (as with LightGBM's refit)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from relgraph.database import Database
from relgraph.gnn.predictor import REFIT_WEIGHTS_FILE, GNNConfig
from relgraph.metrics import task_metrics
from relgraph.query.task import TaskTables
from relgraph.runs.blend import MEMBERS, blend_predictions
from relgraph.runs.runner import load_model, train_run
from relgraph.runs.tasks import TaskSource

REFIT = GNNConfig(hidden=16, fanouts=[4, 2], epochs=2, lr=1e-2, batch_size=128, graph_cache_dir=None, num_threads=1,
                  refit=True)


def test_blend_run_scores_test_rows_with_the_refitted_gnn(shop: tuple[Database, TaskTables], tmp_path: Path) -> None:
    db, task = shop
    task = dataclasses.replace(task, extra={"label_horizon": "20D"})
    metrics = train_run(db, task, tmp_path, TaskSource(label_horizon="20D"), model="blend", gnn_config=REFIT, quiet=True)
    assert (tmp_path / "gnn" / REFIT_WEIGHTS_FILE).exists()
    blend = load_model(tmp_path)
    gnn = blend.members["gnn"]
    assert gnn.refit_model_ is not None and gnn.refit_["rows"] == len(task.train) + len(task.val)
    test = {kind: blend.members[kind].predict(db, task.test) for kind in MEMBERS}
    assert metrics["baselines"]["gnn"]["test"]["auroc"] == task_metrics("binary", task.test["label"], test["gnn"])["auroc"]
    assert metrics["test"]["auroc"] == task_metrics("binary", task.test["label"],
                                                   blend_predictions("binary", test, blend.weight_))["auroc"]
    # The weight was chosen on validation predictions, which the first GNN makes.
    refitted, gnn.refit_model_ = gnn.refit_model_, None
    first_test = gnn.predict(db, task.test)
    val = {kind: blend.members[kind].predict(db, task.val) for kind in MEMBERS}
    gnn.refit_model_ = refitted
    np.testing.assert_allclose(gnn.predict(db, task.val), val["gnn"], rtol=1e-12)
    assert not np.allclose(first_test, test["gnn"])
    chosen = blend.val_scores_[blend.weight_]
    assert chosen == task_metrics("binary", task.val["label"], blend_predictions("binary", val, blend.weight_))["auroc"]
