"""Training tables for one predictive query, split in time."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from relgraph.query.ast import Query
from relgraph.query.parser import parse


@dataclass
class TaskTables:
    """Train / validation / test rows for one task.

    Each frame has the columns ``[entity_key, "timestamp", "label"]``; for ranking tasks the
    label is a list of target ids. ``query`` is the PQL text (None when the tables were given)
    and ``parsed`` its AST, parsed once here for every consumer.
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
    parsed: Query | None = None

    def __post_init__(self) -> None:
        if self.parsed is None and self.query:
            self.parsed = parse(self.query)

    def split(self, name: str) -> pd.DataFrame:
        return {"train": self.train, "val": self.val, "test": self.test}[name]
