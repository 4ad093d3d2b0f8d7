"""A weighted blend of a fitted GNN and a fitted LightGBM, the weight chosen on validation.

On Stack Exchange user-badge the two models err differently (test AUROC: GNN 88.3, LightGBM
90.7, 0.3 * GNN + 0.7 * LightGBM 91.3): the GNN carries signal the tabular features miss.
``BlendPredictor`` never trains its members; it only picks the GNN weight ``w`` from
:data:`WEIGHT_GRID` by the validation primary metric and combines (:func:`blend_predictions`):

- binary: ``sigmoid(w * logit(p_gnn) + (1 - w) * logit(p_lightgbm))`` (probabilities clipped
  to ``[EPS, 1 - EPS]``; both models give calibrated-ish probabilities);
- regression: ``w * y_gnn + (1 - w) * y_lightgbm``;
- multiclass: ``w * P_gnn + (1 - w) * P_lightgbm``, columns aligned by class value.

``w`` = 0 or 1 gives that member's predictions unchanged. A saved blend is one JSON file; its
members are read from the sibling folders named by their kind (a run folder's ``gnn/`` and
``lightgbm/``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.metrics import PRIMARY_METRIC, task_metrics
from relgraph.predictor import Predictor
from relgraph.query.task import TaskTables
from relgraph.runs.registry import MEMBER_KINDS, load_model

#: Member kinds, in order; the blend weight is the first's (the GNN), the second gets 1 - weight.
MEMBERS = MEMBER_KINDS
#: Task types a blend covers (rankers output id lists, which do not average).
BLEND_TASK_TYPES = ("binary", "regression", "multiclass")
WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(11))
EPS = 1e-6
STATE_FILE = "blend.json"


def blend_predictions(task_type: str, preds: dict[str, np.ndarray], weight: float) -> np.ndarray:
    """Combine the members' predictions with GNN weight ``weight`` (module docstring).

    Args:
        task_type: ``binary`` | ``regression`` | ``multiclass``.
        preds: ``{"gnn": ..., "lightgbm": ...}``; binary P(1) [n], regression [n], multiclass
            [n, C] probabilities with the same column order in both.
        weight: the GNN's weight in [0, 1].
    Returns:
        An array shaped like each member's.
    """
    if set(preds) != set(MEMBERS):
        raise ModelError(f"a blend combines {MEMBERS}, got {sorted(preds)}")
    if task_type not in BLEND_TASK_TYPES:
        raise ModelError(f"a blend covers {BLEND_TASK_TYPES} tasks, not {task_type!r}")
    gnn, other = (np.asarray(preds[k], dtype=float) for k in MEMBERS)
    if weight in (0.0, 1.0):
        return gnn if weight == 1.0 else other
    if task_type == "binary":
        logit = weight * _logit(gnn) + (1 - weight) * _logit(other)
        return 1.0 / (1.0 + np.exp(-logit))
    return weight * gnn + (1 - weight) * other


def _logit(prob: np.ndarray) -> np.ndarray:
    prob = np.clip(prob, EPS, 1 - EPS)
    return np.log(prob) - np.log1p(-prob)


def choose_weight(scores: dict[float, float], higher_better: bool) -> float:
    """The weight with the best validation score; NaN scores lose; ties go to the simpler
    (0 or 1, a single model) and then to the lower weight."""
    signed = {w: (-np.inf if np.isnan(s) else (s if higher_better else -s)) for w, s in scores.items()}
    best = max(signed.values())
    return min((w for w, s in signed.items() if s == best), key=lambda w: (w not in (0.0, 1.0), w))


def align_columns(proba: np.ndarray, member_classes: Sequence[Any], classes: Sequence[Any]) -> np.ndarray:
    """``proba`` [n, C] with columns in ``member_classes`` order -> columns in ``classes`` order."""
    index = {c: i for i, c in enumerate(member_classes)}
    if set(index) != set(classes) or len(index) != len(classes):
        raise ModelError(f"blend members disagree on the classes: {list(member_classes)} vs {list(classes)}")
    return np.asarray(proba)[:, [index[c] for c in classes]]


class BlendPredictor:
    """Predictor protocol (``relgraph.predictor``) over already fitted GNN and LightGBM members.

    Args:
        members: ``{"gnn": fitted GNNPredictor, "lightgbm": fitted LightGBMPredictor}``.
        grid: GNN weights to try.

    Fitted state: ``weight_`` (the GNN's), ``task_type_``, ``classes_`` (multiclass column
    order: the GNN's), ``val_scores_`` (validation primary metric per weight).
    """

    name = "blend"

    def __init__(self, members: dict[str, Predictor], grid: Sequence[float] = WEIGHT_GRID) -> None:
        self.members = members
        self.grid = grid
        self.weight_: float | None = None
        self.task_type_ = ""
        self.classes_: list[Any] | None = None
        self.val_scores_: dict[float, float] = {}

    #: The blend only weighs its members.
    feature_importance_: pd.Series | None = None

    @property
    def history_(self) -> list[dict[str, float]]:
        """Fitted in one go: no per-epoch records."""
        return []

    @classmethod
    def from_fitted(cls, members: dict[str, Predictor], db: Database, task: TaskTables) -> BlendPredictor:
        """The blend of fitted ``members`` with its weight chosen on ``task.val``."""
        return cls(members).fit(db, task)

    def fit(self, db: Database, task: TaskTables) -> BlendPredictor:
        """Choose the GNN weight by the primary metric of the members' ``task.val`` predictions
        (the members are not trained again; ``task.train`` and ``task.test`` are not read)."""
        self._check(task)
        return self.fit_predictions(task, {kind: self.members[kind].predict(db, task.val) for kind in MEMBERS})

    def fit_predictions(self, task: TaskTables, val_preds: dict[str, np.ndarray]) -> BlendPredictor:
        """:meth:`fit` from the members' ``task.val`` predictions already at hand (as their
        ``predict`` returns them), so a caller that scored the members does not predict again."""
        self._check(task)
        self.task_type_ = task.task_type
        self.classes_ = list(self.members["gnn"].classes_ or []) if task.task_type == "multiclass" else None
        preds = self._aligned(val_preds)
        metric, higher_better = PRIMARY_METRIC[task.task_type]
        self.val_scores_ = {
            float(w): task_metrics(task.task_type, task.val["label"], blend_predictions(task.task_type, preds, w),
                                   self.classes_)[metric]
            for w in self.grid
        }
        self.weight_ = choose_weight(self.val_scores_, higher_better)
        return self

    def _check(self, task: TaskTables) -> None:
        if set(self.members) != set(MEMBERS):
            raise ModelError(f"a blend combines {MEMBERS}, got {sorted(self.members)}")
        if task.task_type not in BLEND_TASK_TYPES:
            raise ModelError(f"a blend covers {BLEND_TASK_TYPES} tasks, not {task.task_type!r}")
        if not len(task.val):
            raise ModelError("the validation table is empty: a blend weight is chosen on validation rows")

    def _aligned(self, preds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Multiclass: each member's columns in ``classes_`` order; otherwise ``preds`` as given."""
        if self.classes_ is None:
            return preds
        return {k: align_columns(p, self.members[k].classes_ or [], self.classes_) for k, p in preds.items()}

    def combine(self, preds: dict[str, np.ndarray]) -> np.ndarray:
        """The blend of the members' predictions of the same rows (as their ``predict`` returns them)."""
        if self.weight_ is None:
            raise ModelError("the blend has no weight: call fit (or from_fitted) or load first")
        return blend_predictions(self.task_type_, self._aligned(preds), self.weight_)

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Rows ``[entity_key, "timestamp"]`` -> P(1) [n] | values [n] | probabilities [n, C]
        in ``classes_`` order."""
        if self.weight_ is None:
            raise ModelError("the blend has no weight: call fit (or from_fitted) or load first")
        return self.combine({kind: self.members[kind].predict(db, frame) for kind in MEMBERS})

    def save(self, directory: Path) -> None:
        """Write ``blend.json`` (weight, member kinds, task type, classes, validation scores);
        the members are saved by their own ``save`` into the sibling folders ``../gnn``, ``../lightgbm``."""
        if self.weight_ is None:
            raise ModelError("nothing to save: the blend has no weight yet")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "weight": self.weight_,
            "members": list(MEMBERS),
            "task_type": self.task_type_,
            "classes": self.classes_,
            "val_scores": {str(w): s for w, s in self.val_scores_.items()},
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=1, default=float))

    @classmethod
    def load(cls, directory: Path) -> BlendPredictor:
        """The blend saved in ``directory``, its members loaded from ``directory.parent / kind``."""
        directory = Path(directory)
        if not (directory / STATE_FILE).exists():
            raise ModelError(f"{directory} holds no blend ({STATE_FILE} missing); pass a `relgraph train --out` folder")
        state = json.loads((directory / STATE_FILE).read_text())
        self = cls({kind: load_model(kind, state["task_type"], directory.parent / kind) for kind in state["members"]})
        self.weight_, self.task_type_ = float(state["weight"]), state["task_type"]
        self.val_scores_ = {float(w): s for w, s in state["val_scores"].items()}
        if self.task_type_ == "multiclass":
            self.classes_ = list(self.members["gnn"].classes_ or [])
            if self.classes_ != state["classes"]:
                raise ModelError(f"{directory}: the GNN's classes {self.classes_} are not the blend's {state['classes']}")
        return self
