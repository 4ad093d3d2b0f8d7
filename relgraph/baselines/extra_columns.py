"""A feature builder plus extra columns computed beside it (label context, current parents)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from relgraph.json_values import json_strict


class SavedAsJson:
    """``save`` / ``load`` of an extra-columns family as one JSON file (``FILE``) of its
    ``to_dict``; ``load`` returns None when the model was fitted without the family."""

    FILE = ""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def save(self, directory: Path | str) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / self.FILE).write_text(json.dumps(self.to_dict(), default=json_strict))

    @classmethod
    def load(cls, directory: Path | str) -> Any:
        path = Path(directory) / cls.FILE
        return cls.from_dict(json.loads(path.read_text())) if path.exists() else None  # type: ignore[attr-defined]


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
