"""The protocol every relgraph model satisfies (GNNs, LightGBM, rules, rankers, the blend).

scikit-learn habits: the constructor stores parameters, ``fit`` learns and returns self, and what
``fit`` learns is named with a trailing underscore. The run layer (``relgraph.runs``) handles
every model through these names and type hints only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.query.task import TaskTables


class Predictor(Protocol):
    """A model of one task: binary, regression, multiclass or ranking."""

    #: Short kind shown in reports (``gnn``, ``lightgbm``, ``blend``, ``trivial``, ...).
    name: str

    @property
    def classes_(self) -> list[Any] | None:
        """Multiclass: the class of each probability column ``predict`` returns; else empty or None."""
        ...

    @property
    def history_(self) -> list[dict[str, float]]:
        """One record per training epoch (``epoch``, ``train_loss``, ``val_<metric>``); [] for
        models fitted in one go."""
        ...

    @property
    def feature_importance_(self) -> pd.Series | None:
        """Importance per input feature, largest first, for models that have one; else None."""
        ...

    def fit(self, db: Database, task: TaskTables) -> Predictor: ...

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Rows ``[entity_key, "timestamp"]`` -> binary: P(1) [n]; regression: [n];
        multiclass: [n, C] probabilities in ``classes_`` order; ranking: [n, k] target ids."""
        ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> Predictor: ...


class Ranker(Predictor, Protocol):
    """A model of a ranking task (``LIST_DISTINCT(...) RANK TOP k``)."""

    def rank(self, db: Database, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[entity_key, "timestamp"]`` -> (object [n, k] target ids best first, None-padded;
        float [n, k] scores, NaN-padded)."""
        ...
