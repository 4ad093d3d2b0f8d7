"""BlendPredictor: the GNN weight chosen on validation only, the documented combination per task
type, save/load, and run folders whose kept model is the blend (tiny shop, real fitted members)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relgraph.baselines import LightGBMPredictor
from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.gnn.predictor import GNNConfig, GNNPredictor
from relgraph.metrics import regression_metrics
from relgraph.query.task import TaskTables
from relgraph.runs.blend import WEIGHT_GRID, BlendPredictor, align_columns, blend_predictions, choose_weight
from relgraph.runs.runner import evaluate_run, load_model, predict_run, train_run
from relgraph.runs.tasks import TaskSource

FAST = GNNConfig(hidden=16, fanouts=[4, 2], epochs=2, lr=1e-2, batch_size=128, graph_cache_dir=None, num_threads=1)


def _members(db: Database, task: TaskTables) -> dict[str, object]:
    """A tiny GNN and a one-configuration LightGBM fitted on ``task``."""
    return {"gnn": GNNPredictor(FAST, quiet=True).fit(db, task),
            "lightgbm": LightGBMPredictor(seed=0, max_configs=1, ensemble=1).fit(db, task)}


def _relabelled(db: Database, task: TaskTables, task_type: str) -> TaskTables:
    """``task``'s rows with the number of orders in the next 20 days as label: the count itself
    (regression) or ``none`` / ``one`` / ``many`` (multiclass)."""
    orders = db.tables["orders"].to_pandas()

    def label(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame[["customer_id", "timestamp"]].merge(orders[["customer_id", "ordered_at"]], how="left")
        ahead = (rows.ordered_at > rows.timestamp) & (rows.ordered_at <= rows.timestamp + pd.Timedelta(days=20))
        counts = ahead.groupby([rows.customer_id, rows.timestamp]).sum().rename("n").reset_index()
        out = frame[["customer_id", "timestamp"]].merge(counts, how="left")
        n = out.pop("n").to_numpy()
        out["label"] = n.astype(float) if task_type == "regression" else np.array(["none", "one", "many"])[np.minimum(n, 2)]
        return out

    return TaskTables(task_type, task.entity_table, task.entity_key, label(task.train), label(task.val), label(task.test))


@pytest.fixture(scope="module")
def binary(shop: tuple[Database, TaskTables]) -> tuple[Database, TaskTables, dict[str, object]]:
    db, task = shop
    return db, task, _members(db, task)


def test_weight_is_chosen_on_validation_only(binary: tuple[Database, TaskTables, dict[str, object]]) -> None:
    db, task, members = binary
    blend = BlendPredictor.from_fitted(members, db, task)
    assert set(blend.val_scores_) == set(WEIGHT_GRID) and blend.weight_ in WEIGHT_GRID
    # The scores are the members' validation predictions combined, scored by AUROC.
    from sklearn.metrics import roc_auc_score

    val = {k: m.predict(db, task.val) for k, m in members.items()}
    for w, score in blend.val_scores_.items():
        assert score == pytest.approx(roc_auc_score(task.val["label"], blend_predictions("binary", val, w)), abs=1e-12)
    assert blend.weight_ == choose_weight(blend.val_scores_, higher_better=True)
    # Test labels (flipped here) take no part in the choice.
    flipped = TaskTables("binary", task.entity_table, task.entity_key, task.train, task.val,
                         task.test.assign(label=1 - task.test["label"]))
    again = BlendPredictor.from_fitted(members, db, flipped)
    assert again.weight_ == blend.weight_ and again.val_scores_ == blend.val_scores_


def test_binary_blend_is_the_logit_average(binary: tuple[Database, TaskTables, dict[str, object]]) -> None:
    db, task, members = binary
    preds = {k: m.predict(db, task.test) for k, m in members.items()}
    blend = BlendPredictor.from_fitted(members, db, task)
    assert np.array_equal(blend.predict(db, task.test), blend_predictions("binary", preds, blend.weight_))
    logit = {k: np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6))) for k, p in preds.items()}
    mixed = blend_predictions("binary", preds, 0.3)
    np.testing.assert_allclose(mixed, 1 / (1 + np.exp(-(0.3 * logit["gnn"] + 0.7 * logit["lightgbm"]))), rtol=1e-12)
    low, high = np.minimum(*preds.values()), np.maximum(*preds.values())
    assert np.all(mixed >= np.clip(low, 1e-6, 1) - 1e-12) and np.all(mixed <= np.clip(high, 0, 1 - 1e-6) + 1e-12)
    # The ends of the grid are the members themselves, unchanged.
    assert np.array_equal(blend_predictions("binary", preds, 0.0), preds["lightgbm"])
    assert np.array_equal(blend_predictions("binary", preds, 1.0), preds["gnn"])


def test_save_load_round_trip(binary: tuple[Database, TaskTables, dict[str, object]], tmp_path: Path) -> None:
    db, task, members = binary
    blend = BlendPredictor.from_fitted(members, db, task)
    for kind, member in members.items():
        member.save(tmp_path / kind)
    blend.save(tmp_path / "blend")
    assert sorted(p.name for p in (tmp_path / "blend").iterdir()) == ["blend.json"]
    loaded = BlendPredictor.load(tmp_path / "blend")
    assert loaded.weight_ == blend.weight_ and loaded.val_scores_ == blend.val_scores_
    np.testing.assert_array_equal(loaded.predict(db, task.test), blend.predict(db, task.test))
    with pytest.raises(ModelError, match="no blend"):
        BlendPredictor.load(tmp_path / "gnn")


def test_regression_blend_is_the_weighted_average(shop: tuple[Database, TaskTables]) -> None:
    db, task = shop
    task = _relabelled(db, task, "regression")
    members = _members(db, task)
    blend = BlendPredictor.from_fitted(members, db, task)
    preds = {k: m.predict(db, task.test) for k, m in members.items()}
    for w in (0.3, blend.weight_):
        np.testing.assert_allclose(blend_predictions("regression", preds, w), w * preds["gnn"] + (1 - w) * preds["lightgbm"],
                                   rtol=1e-12)
    np.testing.assert_array_equal(blend.predict(db, task.test), blend_predictions("regression", preds, blend.weight_))
    # The grid holds both members, so the blend is at least as good as each on validation.
    val_mae = {k: regression_metrics(task.val["label"], m.predict(db, task.val))["mae"] for k, m in members.items()}
    assert blend.val_scores_[blend.weight_] <= min(val_mae.values()) + 1e-12


def test_multiclass_blend_averages_aligned_probabilities(shop: tuple[Database, TaskTables]) -> None:
    db, task = shop
    task = _relabelled(db, task, "multiclass")
    members = _members(db, task)
    blend = BlendPredictor.from_fitted(members, db, task)
    assert blend.classes_ == members["gnn"].classes and set(blend.classes_) == {"none", "one", "many"}
    gnn = members["gnn"].predict(db, task.test)
    lgbm = align_columns(members["lightgbm"].predict(db, task.test), members["lightgbm"].meta_["classes"], blend.classes_)
    for w in (0.3, blend.weight_):
        mixed = blend_predictions("multiclass", {"gnn": gnn, "lightgbm": lgbm}, w)
        np.testing.assert_allclose(mixed, w * gnn + (1 - w) * lgbm, rtol=1e-12)
        np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(blend.predict(db, task.test), blend_predictions("multiclass", {"gnn": gnn, "lightgbm": lgbm},
                                                                             blend.weight_), rtol=1e-12)


def test_columns_are_aligned_by_class_value() -> None:
    proba = np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])
    aligned = align_columns(proba, ["b", "c", "a"], ["a", "b", "c"])
    np.testing.assert_array_equal(aligned, [[0.7, 0.1, 0.2], [0.2, 0.5, 0.3]])
    with pytest.raises(ModelError, match="disagree on the classes"):
        align_columns(proba, ["b", "c", "d"], ["a", "b", "c"])


def test_ties_go_to_a_single_model_then_the_lower_weight() -> None:
    assert choose_weight({0.0: 0.8, 0.3: 0.8, 1.0: 0.8}, higher_better=True) == 0.0
    assert choose_weight({0.0: 0.7, 0.3: 0.8, 1.0: 0.8}, higher_better=True) == 1.0
    assert choose_weight({0.0: 0.7, 0.2: 0.9, 0.4: 0.9, 1.0: 0.5}, higher_better=True) == 0.2
    assert choose_weight({0.0: float("nan"), 0.5: 0.6, 1.0: 0.55}, higher_better=True) == 0.5
    assert choose_weight({0.0: 3.0, 0.5: 2.0, 1.0: 2.5}, higher_better=False) == 0.5


def test_run_folder_with_the_blend_kept(shop: tuple[Database, TaskTables], tmp_path: Path) -> None:
    """``--model blend``: both members and the blend saved; evaluate and predict use the blend."""
    db, task = shop
    tables = tmp_path / "tables"
    tables.mkdir()
    for split in ("train", "val", "test"):
        task.split(split).to_parquet(tables / f"{split}.parquet")
    out = tmp_path / "run"
    metrics = train_run(db, task, out, TaskSource(task_tables=str(tables)), model="blend", gnn_config=FAST, quiet=True)
    assert metrics["model"] == "blend" and set(metrics["baselines"]) == {"gnn", "lightgbm", "trivial", "rule"}
    assert json.loads((out / "config.json").read_text())["models"] == ["gnn", "lightgbm", "blend"]
    assert sorted(p.name for p in (out / "blend").iterdir()) == ["blend.json"]
    report = (out / "report.html").read_text()
    assert "<td>blend (kept)" in report and "<td>gnn" in report and "GNN weight" in report
    assert isinstance(load_model(out), BlendPredictor)
    recomputed = evaluate_run(db, out)
    assert recomputed["test"]["auroc"] == pytest.approx(metrics["test"]["auroc"], abs=1e-12)
    saved = pd.read_parquet(out / "predictions.parquet")
    np.testing.assert_allclose(load_model(out).predict(db, task.test), saved["probability"], rtol=1e-12)
    preds = predict_run(db, out, at=task.test["timestamp"].max())
    assert len(preds) == task.test["customer_id"].nunique() and preds["probability"].between(0, 1).all()


def _gnn_that_knows_one_split(task: TaskTables, knows: str) -> object:
    """``GNNPredictor.predict`` that scores the rows of split ``knows`` by their labels and the
    other split's (validation / test) by their opposite: it wins clearly on one, loses on the other."""
    real = GNNPredictor.predict
    label = {}
    for split in ("val", "test"):
        frame = task.split(split)
        for key, t, y in zip(frame["customer_id"], frame["timestamp"], frame["label"]):
            label[(key, pd.Timestamp(t))] = y if split == knows else 1 - y

    def predict(self: GNNPredictor, db: Database, frame: pd.DataFrame) -> np.ndarray:
        out = np.asarray(real(self, db, frame), dtype=float).copy()
        for i, (key, t) in enumerate(zip(frame["customer_id"], frame["timestamp"])):
            if (key, pd.Timestamp(t)) in label:
                out[i] = 0.1 + 0.8 * label[(key, pd.Timestamp(t))]
        return out

    return predict


@pytest.mark.parametrize("knows", ["val", "test"])
def test_auto_chooses_on_validation(shop: tuple[Database, TaskTables], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    knows: str) -> None:
    """A GNN clearly best on validation (and worst on test) is kept, by itself or in the blend;
    the same GNN worst on validation (best on test) is not: choosing on test, or always keeping
    LightGBM, fails one of the two."""
    db, task = shop
    monkeypatch.setattr(GNNPredictor, "predict", _gnn_that_knows_one_split(task, knows))
    metrics = train_run(db, task, tmp_path, TaskSource(), model="auto", gnn_config=FAST, quiet=True)
    selection = metrics["selection"]
    assert selection["reference"] == "lightgbm" and selection["chosen"] == metrics["model"]
    if knows == "val":
        assert selection["evidence"]["gnn"] >= selection["level"]
        assert metrics["model"] in ("gnn", "blend") and metrics["val"]["auroc"] > 0.99
        assert {"gnn", "lightgbm", "blend", "trivial", "rule"} == {metrics["model"], *metrics["baselines"]}
        assert "bootstrap resamples" in (tmp_path / "report.html").read_text()
        assert load_model(tmp_path).predict(db, task.test).shape == (len(task.test),)
    else:
        assert selection["evidence"]["gnn"] < selection["level"] and metrics["model"] != "gnn"
        assert metrics["baselines"]["gnn"]["test"]["auroc"] > 0.99 > metrics["test"]["auroc"]


def test_blend_without_validation_rows_is_refused_before_training(
    shop: tuple[Database, TaskTables], tmp_path: Path
) -> None:
    """The blend weight needs validation rows: ``--model blend`` says so before fitting anything."""
    import dataclasses

    db, task = shop
    no_val = dataclasses.replace(task, val=task.val.iloc[:0])
    with pytest.raises(ModelError, match="validation table is empty"):
        train_run(db, no_val, tmp_path / "blend", TaskSource(), model="blend", gnn_config=FAST, quiet=True)
    assert not (tmp_path / "blend" / "gnn").exists()


def test_the_gnn_beside_lightgbm_trains_on_its_own_thread_and_its_error_reaches_the_run(
    shop: tuple[Database, TaskTables], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two cores the blend's GNN trains on a thread beside LightGBM's, with half its torch
    threads; an error there ends the run with that error, once LightGBM is done."""
    import threading

    from relgraph.runs import runner

    monkeypatch.setattr("relgraph.baselines.lightgbm_search.usable_cores", lambda: 2)
    db, task = shop
    seen: dict[str, object] = {}
    real_fit = GNNPredictor.fit

    def recording_fit(self: GNNPredictor, *args: object) -> GNNPredictor:
        seen["thread"], seen["threads"] = threading.current_thread().name, self.config.num_threads
        return real_fit(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(GNNPredictor, "fit", recording_fit)
    two = GNNConfig(**{**FAST.__dict__, "num_threads": 2})
    assert runner.gnn_beside_lightgbm(["gnn", "lightgbm"], two).num_threads == 1
    metrics = train_run(db, task, tmp_path / "ok", TaskSource(), model="blend", gnn_config=two, quiet=True)
    assert seen == {"thread": "relgraph-gnn", "threads": 1}
    assert metrics["timings"]["gnn epochs"]["beside"] == "gnn" and "beside" not in metrics["timings"]["lightgbm configurations"]

    def failing_fit(self: GNNPredictor, *args: object) -> GNNPredictor:
        raise ModelError("the GNN failed on purpose")

    monkeypatch.setattr(GNNPredictor, "fit", failing_fit)
    with pytest.raises(ModelError, match="on purpose"):
        train_run(db, task, tmp_path / "fails", TaskSource(), model="blend", gnn_config=two, quiet=True)
    monkeypatch.setattr("relgraph.baselines.lightgbm_search.usable_cores", lambda: 1)  # one core: one after another
    assert runner.gnn_beside_lightgbm(["gnn", "lightgbm"], two) is None
