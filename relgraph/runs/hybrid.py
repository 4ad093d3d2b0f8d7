"""``HybridPredictor``: LightGBM over the automated temporal features plus out-of-fold GNN scores.

The GNN and the aggregates err differently (the blend beats both on Stack Exchange user-badge),
but a blend only weighs two finished predictions. The hybrid gives the trees the GNN's output as
one more column beside the features, so they can use it where it helps (for some entities, in
some feature ranges) and ignore it elsewhere.

The trees must never see in-sample GNN outputs (a GNN scores its own training rows far better
than new ones, and trees fitted on such a column lean on it too much). So, stacking by entity:

- the training entities are split into ``folds`` groups (seeded permutation); fold GNN ``k`` is
  trained on the training rows of the other groups (early stopping on ``task.val``, as the GNN
  member) and scores the training rows of group ``k``: every training row gets the score of a
  GNN that never saw its entity's labels;
- validation, test and prediction rows get the mean over the fold GNNs (binary: of the logits).

Each GNN score for an (entity, t) row comes from the temporal sampler (rows with time <= t only)
and the features from :class:`~relgraph.baselines.aggregates.TemporalFeatureBuilder` (same
rule), so the hybrid keeps temporal integrity. GNN column: binary ``gnn_logit``; regression
``gnn_value``; multiclass ``gnn_logp_<i>`` per class of the GNN's ``classes_``.

Saved as ``hybrid.json`` + ``gnn_<k>/`` (each fold GNN) + ``lightgbm/`` (boosters and the
feature builder), never pickle.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.baselines.lightgbm_model import LightGBMPredictor
from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.query.task import TaskTables

STATE_FILE = "hybrid.json"
EPS = 1e-6


def gnn_columns(task_type: str, pred: np.ndarray) -> dict[str, np.ndarray]:
    """A GNN's ``predict`` output -> the named feature columns the trees get."""
    pred = np.asarray(pred, dtype=float)
    if task_type == "binary":
        p = np.clip(pred, EPS, 1 - EPS)
        return {"gnn_logit": np.log(p) - np.log1p(-p)}
    if task_type == "regression":
        return {"gnn_value": pred}
    logp = np.log(np.clip(pred, EPS, 1.0))
    return {f"gnn_logp_{i}": logp[:, i] for i in range(logp.shape[1])}


class _WithGNNColumns:
    """A feature builder: the wrapped builder's features plus the GNN columns.

    ``fit_transform`` (training rows) appends the out-of-fold columns computed beforehand;
    ``transform`` (any other rows) appends the fold GNNs' mean. ``save`` / ``load`` are the
    wrapped builder's (the GNNs are saved by the hybrid)."""

    def __init__(self, inner: TemporalFeatureBuilder, hybrid: HybridPredictor,
                 oof: dict[str, np.ndarray] | None = None) -> None:
        self.inner = inner
        self.hybrid = hybrid
        self.oof = oof

    def fit_transform(self, db: Database, entity_table: str, frame: pd.DataFrame, entity_key: str | None = None,
                      task_type: str | None = None) -> pd.DataFrame:
        if self.oof is None:
            raise ModelError("the hybrid's out-of-fold GNN columns are missing: fit the HybridPredictor, not its builder")
        return _append(self.inner.fit_transform(db, entity_table, frame, entity_key, task_type), self.oof)

    def transform(self, db: Database, frame: pd.DataFrame, entity_key: str | None = None) -> pd.DataFrame:
        return _append(self.inner.transform(db, frame, entity_key), self.hybrid.gnn_features(db, frame))

    def save(self, directory: Path) -> Path:
        return self.inner.save(directory)


def _append(features: pd.DataFrame, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    out = features.copy()
    for name, values in columns.items():
        if len(values) != len(out):
            raise ModelError(f"GNN column {name!r} has {len(values)} rows for {len(out)} feature rows")
        out[name] = values
    return out


class HybridPredictor:
    """Predictor protocol (``relgraph.predictor``): LightGBM over temporal features + out-of-fold
    GNN scores (module docstring), binary, regression and multiclass tasks.

    Args:
        seed: seed of the fold split, the fold GNNs and LightGBM.
        gnn_config: ``GNNConfig`` of the fold GNNs (its seed is replaced by ``seed``).
        folds: entity groups (fold GNNs); at least 2.
        lightgbm: keyword arguments of the ``LightGBMPredictor`` (its ``seed`` is ``seed``).
        quiet: no per-epoch GNN logging.
        model_dir: where the fold GNNs checkpoint (``model_dir/gnn_<k>``); None: no checkpoints.

    Fitted state: ``gnns_`` (fold GNNs), ``lightgbm_``, ``task_type_``, ``oof_val_`` (validation
    primary metric of the fold mean GNN column alone, for the report).
    """

    name = "hybrid"

    def __init__(self, seed: int = 0, gnn_config: Any = None, folds: int = 3, lightgbm: dict[str, Any] | None = None,
                 quiet: bool = True, model_dir: Path | None = None) -> None:
        if folds < 2:
            raise ModelError(f"HybridPredictor folds={folds}: out-of-fold scores need at least 2 folds")
        self.seed = seed
        self.gnn_config = gnn_config
        self.folds = folds
        self.lightgbm = dict(lightgbm or {})
        self.quiet = quiet
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.gnns_: list[Any] = []
        self.lightgbm_: LightGBMPredictor | None = None
        self.task_type_ = ""

    @property
    def classes_(self) -> list[Any] | None:
        return self.lightgbm_.classes_ if self.lightgbm_ is not None else None

    @property
    def history_(self) -> list[dict[str, float]]:
        """Fold GNN ``k``'s epochs, tagged ``fold``."""
        return [dict(h, fold=k) for k, g in enumerate(self.gnns_) for h in g.history_]

    @property
    def feature_importance_(self) -> pd.Series | None:
        return self.lightgbm_.feature_importance_ if self.lightgbm_ is not None else None

    def _new_gnn(self, fold: int) -> Any:
        from relgraph.gnn import GNNConfig, GNNPredictor

        # No refit: the LightGBM above learns from the fold GNNs' columns as early stopping left them.
        config = dataclasses.replace(self.gnn_config or GNNConfig(), seed=self.seed + fold, refit=False)
        checkpoint = self.model_dir / f"gnn_{fold}" if self.model_dir is not None else None
        return GNNPredictor(config, checkpoint_dir=checkpoint, quiet=self.quiet)

    def fold_of(self, keys: pd.Series) -> np.ndarray:
        """Fold of each row's entity: a seeded permutation of the sorted distinct keys, dealt round-robin."""
        distinct = np.sort(pd.unique(keys.astype(str)))
        order = np.random.default_rng([self.seed, 13]).permutation(len(distinct))
        fold = pd.Series(np.empty(len(distinct), dtype=np.int64), index=distinct)
        fold.iloc[order] = np.arange(len(distinct)) % self.folds
        return fold.loc[keys.astype(str).to_numpy()].to_numpy()

    def fit(self, db: Database, task: TaskTables) -> HybridPredictor:
        if task.task_type not in ("binary", "regression", "multiclass"):
            raise ModelError(f"the hybrid handles binary, regression and multiclass tasks, not {task.task_type!r}")
        self.task_type_ = task.task_type
        train = task.train.reset_index(drop=True)
        fold = self.fold_of(train[task.entity_key])
        self.gnns_, oof = [], None
        for k in range(self.folds):
            held = fold == k
            sub = dataclasses.replace(task, train=train[~held].reset_index(drop=True))
            gnn = self._new_gnn(k).fit(db, sub)
            self.gnns_.append(gnn)
            cols = gnn_columns(task.task_type, self._aligned(gnn, gnn.predict(db, train[held])))
            if oof is None:
                oof = {name: np.full(len(train), np.nan) for name in cols}
            for name, values in cols.items():
                oof[name][held] = values
        assert oof is not None
        builder = _WithGNNColumns(TemporalFeatureBuilder(), self, oof)
        # all training rows: the out-of-fold columns are aligned with them by position
        # No refit on validation rows: their GNN column comes from GNNs early-stopped on them.
        params = {"seed": self.seed, "max_train_rows": None, "refit": False, **self.lightgbm}
        self.lightgbm_ = LightGBMPredictor(builder=builder, **params).fit(  # type: ignore[arg-type]
            db, dataclasses.replace(task, train=train))
        builder.oof = None  # the training rows' columns are not needed again
        return self

    def _aligned(self, gnn: Any, pred: np.ndarray) -> np.ndarray:
        """Multiclass: the fold GNN's columns in the first fold GNN's class order (a fold may
        miss a rare class: its column is then ~0 probability)."""
        if self.task_type_ != "multiclass":
            return pred
        classes = list(self.gnns_[0].classes_) if self.gnns_ else list(gnn.classes_)
        out = np.full((len(pred), len(classes)), EPS)
        index = {c: i for i, c in enumerate(gnn.classes_)}
        for j, c in enumerate(classes):
            if c in index:
                out[:, j] = np.asarray(pred)[:, index[c]]
        return out

    def gnn_features(self, db: Database, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The GNN columns of ``frame``'s rows: the mean over the fold GNNs."""
        if not self.gnns_:
            raise ModelError("the hybrid is not trained: call fit or load first")
        per_fold = [gnn_columns(self.task_type_, self._aligned(g, g.predict(db, frame))) for g in self.gnns_]
        return {name: np.mean([cols[name] for cols in per_fold], axis=0) for name in per_fold[0]}

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Binary: P(1) [n]; regression: [n]; multiclass: [n, C] in ``classes_`` order."""
        if self.lightgbm_ is None:
            raise ModelError("the hybrid is not trained: call fit or load first")
        return self.lightgbm_.predict(db, frame)

    def save(self, directory: Path) -> None:
        if self.lightgbm_ is None:
            raise ModelError("nothing to save: the hybrid is not trained")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for k, gnn in enumerate(self.gnns_):
            gnn.save(directory / f"gnn_{k}")
        self.lightgbm_.save(directory / "lightgbm")
        state = {"seed": self.seed, "folds": self.folds, "lightgbm": self.lightgbm, "task_type": self.task_type_}
        (directory / STATE_FILE).write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, directory: Path) -> HybridPredictor:
        from relgraph.gnn import GNNPredictor

        directory = Path(directory)
        if not (directory / STATE_FILE).exists():
            raise ModelError(f"{directory} holds no hybrid model ({STATE_FILE} missing); pass a `relgraph train --out` folder")
        state = json.loads((directory / STATE_FILE).read_text())
        self = cls(seed=state["seed"], folds=state["folds"], lightgbm=state["lightgbm"])
        self.task_type_ = state["task_type"]
        self.gnns_ = [GNNPredictor.load(directory / f"gnn_{k}") for k in range(self.folds)]
        self.lightgbm_ = LightGBMPredictor.load(directory / "lightgbm")
        self.lightgbm_.builder = _WithGNNColumns(self.lightgbm_.builder, self)  # type: ignore[assignment]
        return self

