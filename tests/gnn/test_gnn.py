"""GNNPredictor on the in-memory shop database: learning, reproducibility, resume, save/load, leakage."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relgraph.baselines import TrivialBaseline
from relgraph.errors import ModelError
from relgraph.gnn.predictor import CHECKPOINT_FILE, GNNConfig, GNNPredictor
from relgraph.gnn.tensors import FeatureStore
from relgraph.graph import build_graph
from relgraph.metrics import choose_threshold, task_metrics

FAST = GNNConfig(hidden=16, fanouts=[8, 4], epochs=4, lr=1e-2, batch_size=128, graph_cache_dir=None, num_threads=1)


@pytest.fixture(scope="module")
def trained(shop):
    db, task = shop
    return GNNPredictor(FAST, quiet=True).fit(db, task)


def test_gnn_beats_the_trivial_baseline(shop, trained) -> None:
    db, task = shop
    gnn = task_metrics("binary", task.test["label"], trained.predict(db, task.test))["auroc"]
    trivial = task_metrics("binary", task.test["label"], TrivialBaseline(labels="training").fit(db, task).predict(db, task.test))
    assert gnn > 0.75
    assert gnn > trivial["auroc"]
    assert len(trained.history) == 4 and {"train_loss", "val_auroc"} <= set(trained.history[0])


def test_same_seed_same_model(shop, trained) -> None:
    db, task = shop
    again = GNNPredictor(FAST, quiet=True).fit(db, task)
    np.testing.assert_allclose(again.predict(db, task.test), trained.predict(db, task.test), rtol=1e-6)
    other = GNNPredictor(dataclasses.replace(FAST, seed=1), quiet=True).fit(db, task)
    assert not np.allclose(other.predict(db, task.test), trained.predict(db, task.test))


def test_save_load_round_trip(shop, trained, tmp_path: Path) -> None:
    db, task = shop
    trained.save(tmp_path)
    assert not any(p.suffix in (".pkl", ".pickle") for p in tmp_path.iterdir())
    loaded = GNNPredictor.load(tmp_path)
    np.testing.assert_allclose(loaded.predict(db, task.test), trained.predict(db, task.test), rtol=1e-6)


def test_validation_predictions_are_those_the_kept_epoch_was_chosen_by(shop, trained, monkeypatch) -> None:
    db, task = shop
    fresh = trained.predict(db, task.val.copy())  # another frame: predicted by the kept weights
    best = next(r for r in trained.history if r["epoch"] == trained.best_epoch())
    assert task_metrics("binary", task.val["label"], fresh)["auroc"] == best["val_auroc"]

    def no_prediction(*args, **kwargs):
        raise AssertionError("predicted the validation rows again")

    monkeypatch.setattr(trained, "_predict_rows", no_prediction)
    kept = trained.predict(db, task.val)  # the frame fit validated on: its kept epoch's predictions
    np.testing.assert_array_equal(kept, fresh)
    kept[:] = 0  # the caller's copy
    np.testing.assert_array_equal(trained.predict(db, task.val), fresh)
    with pytest.raises(AssertionError, match="again"):
        trained.predict(db, task.test)


def test_resume_from_checkpoint_matches_uninterrupted_run(shop, tmp_path: Path) -> None:
    db, task = shop
    full = GNNPredictor(dataclasses.replace(FAST, patience=99), quiet=True).fit(db, task)
    GNNPredictor(dataclasses.replace(FAST, epochs=2, patience=99), checkpoint_dir=tmp_path, quiet=True).fit(db, task)
    assert (tmp_path / CHECKPOINT_FILE).exists()
    resumed = GNNPredictor(dataclasses.replace(FAST, patience=99), checkpoint_dir=tmp_path, quiet=True).fit(db, task)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    np.testing.assert_allclose(resumed.predict(db, task.test), full.predict(db, task.test), rtol=1e-5)


def test_prediction_ignores_rows_after_the_prediction_time(shop, trained) -> None:
    """Leakage: deleting every row after t leaves the prediction for (entity, t) unchanged."""
    db, task = shop
    for t in [task.train["timestamp"].iloc[0], task.test["timestamp"].iloc[0]]:
        rows = task.test[["customer_id"]].drop_duplicates().assign(timestamp=t)
        full = trained.predict(db, rows)
        cut = trained.predict(db.cut(np.datetime64(pd.Timestamp(t))), rows)
        np.testing.assert_allclose(cut, full, rtol=1e-6, atol=1e-7)


def test_prediction_changes_with_new_events(shop, trained) -> None:
    """The leakage test above can fail: a later prediction time does see newer rows."""
    db, task = shop
    rows = task.test[["customer_id"]].drop_duplicates()
    early = trained.predict(db, rows.assign(timestamp=task.train["timestamp"].iloc[0]))
    late = trained.predict(db, rows.assign(timestamp=task.test["timestamp"].iloc[0]))
    assert not np.allclose(early, late)


def test_column_statistics_and_vocabularies_are_those_of_the_database_cut_at_the_last_training_time(shop, trained) -> None:
    """The GNN's fitted feature space (means, stds, category vocabularies) equals the one fitted
    on the database cut at the last training time; fitted at the last test time it differs."""
    db, task = shop
    last = pd.Timestamp(task.train["timestamp"].max())
    cutoff = int(last.timestamp())
    on_cut = FeatureStore.fit(build_graph(db.cut(np.datetime64(last)), cache_dir=None), cutoff)
    assert trained.store.to_dict() == on_cut.to_dict()
    later = int(pd.Timestamp(task.test["timestamp"].max()).timestamp())
    assert FeatureStore.fit(build_graph(db, cache_dir=None), later).to_dict() != on_cut.to_dict()


def test_a_new_database_is_never_taken_for_a_freed_one_with_its_id(shop, trained, monkeypatch) -> None:
    """Graphs are reused per database object, and a new database at a freed one's address has
    its ``id``: the cache must not key on ``id`` (found by the faithfulness test, where a deleted
    row came back). Worst case simulated: every object's ``id`` the same."""
    from relgraph.gnn import predictor as predictor_module

    db, task = shop
    frame = task.test[task.test["timestamp"] == task.test["timestamp"].max()]
    early, late = (np.datetime64(pd.Timestamp(t)) for t in sorted(task.train["timestamp"].unique())[-2:])
    expected = trained.predict(db.cut(late), frame)
    monkeypatch.setattr(predictor_module, "id", lambda obj: 0, raising=False)
    assert not np.allclose(trained.predict(db.cut(early), frame), expected)
    np.testing.assert_allclose(trained.predict(db.cut(late), frame), expected, rtol=1e-6)


def test_unknown_entity_is_a_model_error(shop, trained) -> None:
    db, task = shop
    with pytest.raises(ModelError, match="customer_id=999"):
        trained.predict(db, pd.DataFrame({"customer_id": [999], "timestamp": [task.test["timestamp"].iloc[0]]}))


def test_choose_threshold_maximises_accuracy() -> None:
    y = np.array([0, 0, 1, 1, 1])
    prob = np.array([0.1, 0.7, 0.75, 0.8, 0.9])
    t = choose_threshold(y, prob)
    assert 0.7 < t <= 0.75
    assert task_metrics("binary", y, prob, threshold=t)["accuracy"] == 1.0


def _relabelled(task, task_type: str, fn):
    return dataclasses.replace(
        task, task_type=task_type, train=fn(task.train.copy()), val=fn(task.val.copy()), test=fn(task.test.copy())
    )


def test_regression_predictions_stay_in_the_training_range(shop) -> None:
    db, task = shop
    rng = np.random.default_rng(0)
    reg = _relabelled(task, "regression", lambda f: f.assign(label=f["label"] * 10.0 + rng.normal(0, 1, len(f))))
    model = GNNPredictor(dataclasses.replace(FAST, epochs=2), quiet=True).fit(db, reg)
    pred = model.predict(db, reg.test)
    assert pred.shape == (len(reg.test),)
    assert pred.min() >= reg.train["label"].min() and pred.max() <= reg.train["label"].max()
    assert {"mae", "rmse", "r2"} <= set(task_metrics("regression", reg.test["label"], pred))


def test_multiclass_gives_class_probabilities(shop) -> None:
    db, task = shop
    names = np.array(["quiet", "active"])
    multi = _relabelled(task, "multiclass", lambda f: f.assign(label=names[f["label"].to_numpy()]))
    model = GNNPredictor(dataclasses.replace(FAST, epochs=2), quiet=True).fit(db, multi)
    proba = model.predict(db, multi.test)
    assert model.classes == ["active", "quiet"]
    assert proba.shape == (len(multi.test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert {"accuracy", "macro_f1"} <= set(task_metrics("multiclass", multi.test["label"], proba, model.classes))


def test_an_epoch_trains_on_at_most_max_rows_per_epoch_rows_a_different_share_each_epoch(shop, monkeypatch) -> None:
    import torch

    db, task = shop
    batches: list[tuple[int, np.ndarray]] = []  # (epoch, seed rows) of each training step
    forward = GNNPredictor._forward

    def spied(self: GNNPredictor, batch, inputs, module=None):
        if torch.is_grad_enabled():
            batches.append((len(self.history_), batch.input_id.numpy().copy()))
        return forward(self, batch, inputs, module)

    monkeypatch.setattr(GNNPredictor, "_forward", spied)
    whole = dataclasses.replace(FAST, epochs=2, patience=99)
    GNNPredictor(whole, quiet=True).fit(db, task)
    rows_whole = [sum(len(ids) for e, ids in batches if e == epoch) for epoch in (0, 1)]
    assert rows_whole == [len(task.train)] * 2
    batch_size = len(batches[0][1])
    batches.clear()
    GNNPredictor(dataclasses.replace(whole, max_rows_per_epoch=2 * batch_size - 1), quiet=True).fit(db, task)
    per_epoch = [[ids for e, ids in batches if e == epoch] for epoch in (0, 1)]
    assert [len(steps) for steps in per_epoch] == [2, 2]  # ceil((2 x batch - 1) / batch) steps
    first, second = (set(np.concatenate(steps).tolist()) for steps in per_epoch)
    assert len(first) == 2 * batch_size and first != second  # each epoch a different share of the rows
