"""LightGBM over automated temporal features: the tabular baseline every run is compared with.

:class:`LightGBMPredictor` follows the :class:`relgraph.train.base.Predictor` protocol:
features come from :class:`~relgraph.baselines.features.TemporalFeatureBuilder` fitted on the
training rows; a few LightGBM configurations are tried within a time budget, each with early
stopping on the validation split, and the best on validation is kept. Saved as LightGBM's text
model plus JSON (no pickle).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.baselines.features import TemporalFeatureBuilder, json_default
from relgraph.database import Database
from relgraph.errors import ModelError, QueryError
from relgraph.metrics import PRIMARY_METRIC, binary_metrics, multiclass_metrics, regression_metrics
from relgraph.query.task import TaskTables

_MODEL_FILE = "lightgbm.txt"
_META_FILE = "lightgbm.json"

#: Shared starting point of every configuration.
BASE_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 127,
    "verbose": -1,
}

#: Variations tried in order while the time budget lasts (the first one always runs).
SEARCH_SPACE: list[dict[str, Any]] = [
    {},
    {"num_leaves": 15, "min_data_in_leaf": 50, "feature_fraction": 0.5},
    {"num_leaves": 7, "min_data_in_leaf": 100, "learning_rate": 0.03},
    {"num_leaves": 63, "min_data_in_leaf": 20, "learning_rate": 0.03, "feature_fraction": 0.5},
    {"num_leaves": 15, "min_data_in_leaf": 20, "learning_rate": 0.02, "feature_fraction": 0.3},
    {"num_leaves": 31, "min_data_in_leaf": 200, "feature_fraction": 0.7},
]


class LightGBMPredictor:
    """Temporal features + LightGBM, tuned on validation.

    Args:
        seed: LightGBM seed (bagging, feature sampling).
        time_budget_s: seconds for the configuration search (the first configuration always
            runs; the next ones start while the budget lasts).
        max_configs: configurations tried at most (from :data:`SEARCH_SPACE`).
        num_threads: LightGBM threads (1 by default: OpenMP workers spin, and on busy shared
            cores two threads run several times slower than one).
        builder: feature builder (default: ``TemporalFeatureBuilder()``).
        early_stopping_rounds: rounds without validation improvement before stopping.
    """

    name = "lightgbm"

    def __init__(
        self,
        seed: int = 0,
        time_budget_s: float = 30.0,
        max_configs: int = len(SEARCH_SPACE),
        num_threads: int = 1,
        builder: TemporalFeatureBuilder | None = None,
        early_stopping_rounds: int = 50,
    ) -> None:
        self.seed = seed
        self.time_budget_s = time_budget_s
        self.max_configs = max_configs
        self.num_threads = num_threads
        self.builder = builder or TemporalFeatureBuilder()
        self.early_stopping_rounds = early_stopping_rounds
        self.booster_: Any = None
        self.meta_: dict[str, Any] = {}
        self.feature_importance_: pd.Series | None = None

    # ------------------------------------------------------------------ training
    def fit(self, db: Database, task: TaskTables) -> LightGBMPredictor:
        """Build features, try configurations with early stopping on ``task.val``, keep the best."""
        import lightgbm as lgb

        if task.task_type not in ("binary", "regression", "multiclass"):
            raise QueryError(f"LightGBMPredictor handles binary, regression and multiclass tasks, not {task.task_type!r}")
        started = time.perf_counter()
        key = task.entity_key
        x_train = self.builder.fit_transform(db, task.entity_table, task.train, key, task.task_type)
        x_val = self.builder.transform(db, task.val, key)
        feature_seconds = time.perf_counter() - started
        y_train, y_val, classes = _encode_labels(task)
        val_ok = ~pd.isna(y_val)
        x_val, y_val = x_val[val_ok], y_val[val_ok]
        objectives = _objective_variants(task.task_type, y_train, classes)
        trials: list[dict[str, Any]] = []
        best: tuple[float, Any, dict[str, Any]] | None = None
        search_started = time.perf_counter()
        configs = [dict(BASE_PARAMS, **variant, **objective) for variant in SEARCH_SPACE[: self.max_configs] for objective in objectives]
        for params in configs:
            if trials and time.perf_counter() - search_started > self.time_budget_s:
                break
            params = dict(params, seed=self.seed, num_threads=self.num_threads, deterministic=True, force_row_wise=True)
            train_set = lgb.Dataset(x_train, y_train, free_raw_data=False)
            val_set = lgb.Dataset(x_val, y_val, reference=train_set)
            booster = lgb.train(
                params, train_set, num_boost_round=3000, valid_sets=[val_set],
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
            score = _score(task.task_type, y_val, _raw_predict(booster, x_val, task.task_type), classes)
            trials.append({"params": {k: v for k, v in params.items() if k not in ("verbose", "num_threads")},
                           "best_iteration": booster.best_iteration, "val_score": score})
            if best is None or score > best[0]:
                best = (score, booster, params)
        assert best is not None
        self.booster_ = best[1]
        metric, higher_better = PRIMARY_METRIC[task.task_type]
        self.meta_ = {
            "task_type": task.task_type,
            "entity_table": task.entity_table,
            "entity_key": key,
            "classes": classes,
            "label_range": [float(np.nanmin(y_train)), float(np.nanmax(y_train))] if task.task_type == "regression" else None,
            "params": best[2],
            "best_iteration": int(self.booster_.best_iteration or self.booster_.current_iteration()),
            "val_metric": metric,
            "val_value": best[0] if higher_better else -best[0],
            "trials": trials,
            "feature_seconds": feature_seconds,
            "fit_seconds": time.perf_counter() - started,
        }
        self._set_importance()
        return self

    def _set_importance(self) -> None:
        gain = self.booster_.feature_importance("gain", iteration=self.meta_["best_iteration"])
        self.feature_importance_ = pd.Series(gain, index=self.booster_.feature_name(), name="gain").sort_values(ascending=False)

    # ------------------------------------------------------------------ inference
    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Binary: P(1) [n]; regression: value [n] clamped to the training label range;
        multiclass: [n, C] probabilities in the order of ``meta_["classes"]``."""
        if self.booster_ is None:
            raise ModelError("LightGBMPredictor.predict before fit or load: train it or load a saved model first")
        x = self.builder.transform(db, frame, self.meta_["entity_key"])
        out = _raw_predict(self.booster_, x, self.meta_["task_type"], self.meta_["best_iteration"])
        if self.meta_["task_type"] == "regression":
            lo, hi = self.meta_["label_range"]
            out = np.clip(out, lo, hi)
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path | str) -> None:
        """Write ``lightgbm.txt`` (LightGBM text model), ``lightgbm.json`` and ``features.json``."""
        if self.booster_ is None:
            raise ModelError("LightGBMPredictor.save before fit: train the model first")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(directory / _MODEL_FILE), num_iteration=self.meta_["best_iteration"])
        self.builder.save(directory)
        meta = dict(self.meta_, seed=self.seed, time_budget_s=self.time_budget_s, max_configs=self.max_configs,
                    num_threads=self.num_threads, early_stopping_rounds=self.early_stopping_rounds)
        (directory / _META_FILE).write_text(json.dumps(meta, indent=1, default=json_default))

    @classmethod
    def load(cls, directory: Path | str) -> LightGBMPredictor:
        import lightgbm as lgb

        directory = Path(directory)
        for name in (_MODEL_FILE, _META_FILE):
            if not (directory / name).exists():
                raise ModelError(f"{directory / name} is missing; point --model at a directory written by LightGBMPredictor.save")
        meta = json.loads((directory / _META_FILE).read_text())
        model = cls(seed=meta["seed"], time_budget_s=meta["time_budget_s"], max_configs=meta["max_configs"],
                    num_threads=meta["num_threads"], builder=TemporalFeatureBuilder.load(directory),
                    early_stopping_rounds=meta["early_stopping_rounds"])
        model.booster_ = lgb.Booster(model_file=str(directory / _MODEL_FILE))
        model.meta_ = {k: v for k, v in meta.items() if k not in ("seed", "time_budget_s", "max_configs", "num_threads", "early_stopping_rounds")}
        model._set_importance()
        return model


def _encode_labels(task: TaskTables) -> tuple[np.ndarray, np.ndarray, list[Any] | None]:
    """Training and validation labels as LightGBM wants them (class indices for multiclass)."""
    for split in ("train", "val"):
        if "label" not in task.split(split).columns:
            raise QueryError(f"task {split} table has no 'label' column; give [{task.entity_key!r}, 'timestamp', 'label']")
    if task.task_type != "multiclass":
        return (task.train["label"].to_numpy(dtype=float), task.val["label"].to_numpy(dtype=float), None)
    classes = sorted(pd.unique(task.train["label"].dropna()).tolist())
    index = {c: i for i, c in enumerate(classes)}
    y_train = task.train["label"].map(index).to_numpy(dtype=float)
    y_val = task.val["label"].map(index).to_numpy(dtype=float)  # classes unseen in training: NaN, skipped
    return y_train, y_val, [_plain(c) for c in classes]


def _objective_variants(task_type: str, y_train: np.ndarray, classes: list[Any] | None) -> list[dict[str, Any]]:
    if task_type == "binary":
        # Balanced class weights are one option of the search, chosen on validation.
        return [{"objective": "binary"}, {"objective": "binary", "is_unbalance": True}]
    if task_type == "regression":
        return [{"objective": "regression_l1"}, {"objective": "regression"}]
    assert classes is not None
    return [{"objective": "multiclass", "num_class": len(classes)}]


def _raw_predict(booster: Any, x: pd.DataFrame, task_type: str, iteration: int | None = None) -> np.ndarray:
    out = booster.predict(x, num_iteration=iteration if iteration else booster.best_iteration or None)
    return np.asarray(out, dtype=float)


def _score(task_type: str, y: np.ndarray, pred: np.ndarray, classes: list[Any] | None) -> float:
    """The primary metric, signed so that higher is better."""
    metric, higher_better = PRIMARY_METRIC[task_type]
    if task_type == "binary":
        value = binary_metrics(y, pred)[metric]
        return value if not np.isnan(value) else 0.5
    if task_type == "regression":
        return -regression_metrics(y, pred)[metric]
    assert classes is not None
    return multiclass_metrics(y.astype(int), pred, list(range(len(classes))))[metric]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value

