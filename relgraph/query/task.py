"""Training tables for one predictive query, split in time."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class TaskTables:
    """Train / validation / test rows for one task.

    Each frame has the columns ``[entity_key, "timestamp", "label"]``; for ranking tasks the
    label is a list of target ids. ``query`` is the PQL text (None when the tables were given).
    """

    task_type: str  # binary | regression | multiclass | ranking
    entity_table: str
    entity_key: str
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    query: str | None = None
    target_table: str | None = None  # ranking: the table whose ids are recommended
    k: int | None = None  # ranking: list length
    extra: dict = field(default_factory=dict)

    def split(self, name: str) -> pd.DataFrame:
        return {"train": self.train, "val": self.val, "test": self.test}[name]
