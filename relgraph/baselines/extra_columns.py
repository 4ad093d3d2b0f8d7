"""A feature builder plus extra columns computed beside it (label context, current parents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


class WithColumns:
    """A feature builder: the wrapped builder's features, then ``extra``'s columns.

    ``extra`` is fitted already and has ``columns_for(db, frame, entity_key) -> DataFrame``
    (index as the frame) and ``save(directory)``; ``save`` writes both.
    """

    def __init__(self, inner: Any, extra: Any) -> None:
        self.inner = inner
        self.extra = extra

    def fit_transform(self, db: Any, entity_table: str, frame: pd.DataFrame, entity_key: str | None = None,
                      task_type: str | None = None) -> pd.DataFrame:
        return _join(self.inner.fit_transform(db, entity_table, frame, entity_key, task_type),
                     self.extra.columns_for(db, frame, entity_key))

    def transform(self, db: Any, frame: pd.DataFrame, entity_key: str | None = None) -> pd.DataFrame:
        return _join(self.inner.transform(db, frame, entity_key), self.extra.columns_for(db, frame, entity_key))

    def save(self, directory: Path | str) -> Path:
        self.extra.save(directory)
        return self.inner.save(directory)

    def __getattr__(self, name: str) -> Any:  # the wrapped builder's fitted state (features_, entity_table_, ...)
        if name in ("inner", "extra"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def unwrapped(builder: Any) -> Any:
    """The innermost builder of nested :class:`WithColumns`."""
    while isinstance(builder, WithColumns):
        builder = builder.inner
    return builder


def _join(features: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """``features`` then ``extra``'s columns (aligned by position; one concat, not a column at a time)."""
    return pd.concat([features, extra.set_axis(features.index, axis=0)], axis=1)
