"""The trivial baseline every report compares against (no features, no training beyond counts).

binary: the entity's rate of positive training labels (the global rate for unseen entities);
regression: the global median of training labels; multiclass: training class frequencies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.query.task import TaskTables


class TrivialPredictor:
    """Predictor protocol; ``fit`` only reads the training table."""

    name = "trivial"

    def __init__(self) -> None:
        self.task_type = ""
        self.entity_key = ""
        self.global_value: float = 0.0
        self.per_entity: pd.Series | None = None
        self.classes_: list = []
        self.class_freq: np.ndarray = np.zeros(0)

    #: Counts, no features.
    feature_importance_: pd.Series | None = None

    @property
    def history_(self) -> list[dict[str, float]]:
        """Fitted in one go: no per-epoch records."""
        return []

    def fit(self, db: Database, task: TaskTables) -> TrivialPredictor:
        self.task_type, self.entity_key = task.task_type, task.entity_key
        labels = task.train["label"]
        if self.task_type == "binary":
            y = labels.astype(float)
            self.global_value = float(y.mean())
            self.per_entity = y.groupby(task.train[self.entity_key]).mean()
        elif self.task_type == "regression":
            self.global_value = float(labels.astype(float).median())
        elif self.task_type == "multiclass":
            freq = labels.value_counts(normalize=True).sort_index()
            self.classes_, self.class_freq = list(freq.index), freq.to_numpy()
        else:
            raise ValueError(f"the trivial baseline does not cover {self.task_type!r} tasks")
        return self

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        n = len(frame)
        if self.task_type == "binary":
            assert self.per_entity is not None
            known = frame[self.entity_key].map(self.per_entity)
            return known.fillna(self.global_value).to_numpy(dtype=float)
        if self.task_type == "regression":
            return np.full(n, self.global_value)
        return np.tile(self.class_freq, (n, 1))
