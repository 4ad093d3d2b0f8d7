"""The protocol every relgraph model follows (GNN, LightGBM, rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.query.task import TaskTables


class Predictor(Protocol):
    """scikit-learn habit: the constructor stores parameters, ``fit`` learns and returns self."""

    name: str

    def fit(self, db: Database, task: TaskTables) -> Predictor: ...

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Rows ``[entity_key, "timestamp"]`` -> binary: P(1) [n]; regression: [n];
        multiclass: [n, C] probabilities; ranking: [n, k] target ids."""
        ...

    def save(self, directory: Path) -> None: ...
