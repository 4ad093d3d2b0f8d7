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


def label_summary(labels: pd.Series, task_type: str) -> str:
    """One line describing a split's labels."""
    if labels.empty:
        return "-"
    if task_type == "binary":
        positives = int(labels.sum())
        return f"positive rate {positives / len(labels):.3f} (1: {positives}, 0: {len(labels) - positives})"
    if task_type == "regression":
        return (
            f"mean {labels.mean():.4g}, std {labels.std(ddof=0):.4g}, min {labels.min():.4g}, "
            f"median {labels.median():.4g}, max {labels.max():.4g}"
        )
    if task_type == "ranking":
        lengths = labels.map(len)
        distinct = len({item for ids in labels for item in ids})
        return f"mean list length {lengths.mean():.2f} (max {lengths.max()}), {distinct} distinct ids"
    counts = labels.astype(str).value_counts()
    top = ", ".join(f"{value}: {count}" for value, count in counts.head(5).items())
    more = f", ... ({len(counts)} classes)" if len(counts) > 5 else f" ({len(counts)} classes)"
    return top + more
