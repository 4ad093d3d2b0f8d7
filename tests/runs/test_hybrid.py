"""HybridPredictor: out-of-fold GNN columns for the training rows, fit / predict / save / load on
the tiny shop, a run folder with ``--model hybrid``, and leakage (deleting future rows changes nothing)."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.gnn.predictor import GNNConfig, GNNPredictor
from relgraph.query.task import TaskTables
from relgraph.runs import hybrid as hybrid_module
from relgraph.runs.hybrid import HybridPredictor, gnn_columns
from relgraph.runs.runner import evaluate_run, load_model, train_run
from relgraph.runs.tasks import TaskSource

FAST = GNNConfig(hidden=16, fanouts=[4, 2], epochs=2, lr=1e-2, batch_size=128, graph_cache_dir=None, num_threads=1)
LGBM = {"max_configs": 1, "ensemble": 1}


@dataclasses.dataclass
class FitRecord:
    """What a hybrid fit did inside: each fold GNN's training keys, the training rows' GNN columns."""

    gnn_train_keys: list[set[int]] = dataclasses.field(default_factory=list)
    oof: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


def _fit_recorded(db: Database, task: TaskTables, break_folds: bool = False,
                  config: GNNConfig = FAST) -> tuple[HybridPredictor, FitRecord]:
    """Fit a hybrid while recording what its fold GNNs trained on and the out-of-fold columns
    its trees got; ``break_folds`` makes every fold GNN train on all training rows (the leak)."""
    record = FitRecord()
    real_fit, real_fit_transform = GNNPredictor.fit, hybrid_module._WithGNNColumns.fit_transform

    def spy_fit(self: GNNPredictor, db: Database, sub: TaskTables) -> GNNPredictor:
        record.gnn_train_keys.append(set(sub.train["customer_id"]))
        return real_fit(self, db, sub)

    def spy_fit_transform(self: object, *args: object, **kwargs: object) -> pd.DataFrame:
        record.oof = {name: values.copy() for name, values in self.oof.items()}  # type: ignore[attr-defined]
        return real_fit_transform(self, *args, **kwargs)  # type: ignore[arg-type]

    def replace_ignoring_train(obj: object, **changes: object) -> object:
        return obj if "train" in changes else dataclasses.replace(obj, **changes)  # type: ignore[type-var]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GNNPredictor, "fit", spy_fit)
        patch.setattr(hybrid_module._WithGNNColumns, "fit_transform", spy_fit_transform)
        if break_folds:
            patch.setattr(hybrid_module, "dataclasses", types.SimpleNamespace(replace=replace_ignoring_train))
        model = HybridPredictor(seed=0, gnn_config=config, folds=2, lightgbm=LGBM).fit(db, task)
    return model, record


def _out_of_fold_problems(model: HybridPredictor, record: FitRecord, task: TaskTables) -> list[str]:
    """Fold GNN k never saw the entities of fold k, whose training rows get its scores."""
    fold = model.fold_of(task.train["customer_id"])
    problems = []
    for k, keys in enumerate(record.gnn_train_keys):
        seen = keys & set(task.train.loc[fold == k, "customer_id"])
        if seen:
            problems.append(f"fold GNN {k} trained on {len(seen)} entities it scores")
    return problems


@pytest.fixture(scope="module")
def recorded(shop: tuple[Database, TaskTables]) -> tuple[HybridPredictor, FitRecord]:
    db, task = shop
    return _fit_recorded(db, task)


@pytest.fixture(scope="module")
def hybrid(recorded: tuple[HybridPredictor, FitRecord]) -> HybridPredictor:
    return recorded[0]


def test_folds_split_entities_not_rows(shop: tuple[Database, TaskTables]) -> None:
    _, task = shop
    model = HybridPredictor(seed=0, folds=3)
    fold = model.fold_of(task.train["customer_id"])
    per_entity = pd.Series(fold).groupby(task.train["customer_id"].to_numpy()).nunique()
    assert (per_entity == 1).all() and set(fold) == {0, 1, 2}
    np.testing.assert_array_equal(fold, HybridPredictor(seed=0, folds=3).fold_of(task.train["customer_id"]))


def test_training_rows_get_out_of_fold_gnn_scores(shop: tuple[Database, TaskTables],
                                                  recorded: tuple[HybridPredictor, FitRecord]) -> None:
    """Each fold GNN never trained on the entities whose training rows it scores, and the trees'
    GNN column on fold k's training rows is fold GNN k's score (not the fold mean)."""
    db, task = shop
    hybrid, record = recorded
    assert len(hybrid.gnns_) == 2 and "gnn_logit" in hybrid.lightgbm_.boosters_[0].feature_name()
    assert len(record.gnn_train_keys) == 2 and all(record.gnn_train_keys)
    assert _out_of_fold_problems(hybrid, record, task) == []
    fold = hybrid.fold_of(task.train["customer_id"])
    for k, gnn in enumerate(hybrid.gnns_):
        held = task.train[fold == k]
        assert len(held)
        expected = gnn_columns("binary", gnn.predict(db, held))["gnn_logit"]
        np.testing.assert_allclose(record.oof["gnn_logit"][fold == k], expected, rtol=1e-6)
    # The fold mean (what other rows get) differs from the out-of-fold column on training rows.
    assert not np.allclose(hybrid.gnn_features(db, task.train)["gnn_logit"], record.oof["gnn_logit"])
    # Other rows: the mean of the fold GNNs' logits.
    cols = hybrid.gnn_features(db, task.test)
    each = [gnn_columns("binary", g.predict(db, task.test))["gnn_logit"] for g in hybrid.gnns_]
    np.testing.assert_allclose(cols["gnn_logit"], np.mean(each, axis=0))


def test_out_of_fold_check_has_teeth(shop: tuple[Database, TaskTables]) -> None:
    """Fold GNNs trained on all training rows (the in-sample leak) fail the check above."""
    db, task = shop
    one_epoch = dataclasses.replace(FAST, epochs=1)
    model, record = _fit_recorded(db, task, break_folds=True, config=one_epoch)
    assert len(_out_of_fold_problems(model, record, task)) == 2


def test_fit_predict_save_load(shop: tuple[Database, TaskTables], hybrid: HybridPredictor, tmp_path: Path) -> None:
    db, task = shop
    pred = hybrid.predict(db, task.test)
    assert pred.shape == (len(task.test),) and np.all((pred >= 0) & (pred <= 1))
    assert hybrid.feature_importance_ is not None and "gnn_logit" in hybrid.feature_importance_.index
    hybrid.save(tmp_path)
    loaded = HybridPredictor.load(tmp_path)
    np.testing.assert_allclose(loaded.predict(db, task.test), pred, rtol=1e-9)


def test_prediction_ignores_rows_after_the_prediction_time(shop: tuple[Database, TaskTables], hybrid: HybridPredictor) -> None:
    """Leakage: deleting every row after t leaves the prediction for (entity, t) unchanged."""
    db, task = shop
    for t in [task.train["timestamp"].iloc[0], task.test["timestamp"].iloc[0]]:
        rows = task.test[["customer_id"]].drop_duplicates().assign(timestamp=t)
        full = hybrid.predict(db, rows)
        cut = hybrid.predict(db.cut(np.datetime64(pd.Timestamp(t))), rows)
        np.testing.assert_allclose(cut, full, rtol=1e-6, atol=1e-7)


def test_run_folder_with_the_hybrid_kept(shop: tuple[Database, TaskTables], tmp_path: Path) -> None:
    db, task = shop
    tables = tmp_path / "tables"
    tables.mkdir()
    for split in ("train", "val", "test"):
        task.split(split).to_parquet(tables / f"{split}.parquet")
    out = tmp_path / "run"
    metrics = train_run(db, task, out, TaskSource(task_tables=str(tables)), model="hybrid", gnn_config=FAST, quiet=True)
    assert metrics["model"] == "hybrid" and set(metrics["baselines"]) == {"trivial", "rule"}
    assert not list((out / "hybrid").rglob("checkpoint.pt"))
    assert isinstance(load_model(out), HybridPredictor)
    assert evaluate_run(db, out)["test"]["auroc"] == pytest.approx(metrics["test"]["auroc"], abs=1e-12)


def test_one_fold_is_refused() -> None:
    with pytest.raises(ModelError, match="at least 2 folds"):
        HybridPredictor(folds=1)


def test_registry_knows_the_hybrid_for_node_tasks_only() -> None:
    from relgraph.runs import registry

    assert registry.model_class("hybrid", "binary") is HybridPredictor
    with pytest.raises(ModelError, match="not ranking"):
        registry.model_class("hybrid", "ranking")


def test_hybrid_with_label_context_round_trips(shop: tuple[Database, TaskTables], tmp_path: Path) -> None:
    """The hybrid's LightGBM can also take the label context: GNN and context columns side by side,
    the same predictions after save / load (the loaded wrappers append in another order)."""
    db, task = shop
    lgbm = {**LGBM, "label_context": True, "label_horizon": "20D"}  # the shop task's label window
    model = HybridPredictor(seed=0, gnn_config=FAST, folds=2, lightgbm=lgbm).fit(db, task)
    columns = model.lightgbm_.meta_["columns"]
    assert "gnn_logit" in columns and "label_ctx.mean.last3" in columns
    pred = model.predict(db, task.test)
    model.save(tmp_path)
    np.testing.assert_allclose(HybridPredictor.load(tmp_path).predict(db, task.test), pred, rtol=1e-9)
