"""What a trained model sees of a database: the tables it was trained on, checked against training.

A database may grow tables after training (``relgraph predict --write-table``, or anything
unrelated); the model leaves them out. A trained table or column that is missing or changed,
or a new column in a trained table, raises a one-line :class:`ModelError`. Torch-free, so the
CLI applies it for every model kind.
"""

from __future__ import annotations

import logging
from typing import Any

from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.schema.io import schema_to_dict

logger = logging.getLogger(__name__)


def check_schema(trained: dict[str, Any], db: Database) -> None:
    """Raise ``ModelError`` naming the first difference between the schema a model was trained
    on (``schema_to_dict`` form) and ``db``'s schema, over the trained tables only: tables
    ``db`` has beyond them are not differences (see :func:`trained_view`)."""
    now = schema_to_dict(db.schema)["tables"]
    trained = trained["tables"]
    for table in trained:
        if table not in now:
            raise ModelError(f"table {table!r} the model was trained on is missing from the database")
    for table, spec in trained.items():
        cur = now[table]
        for col, stype in spec["stypes"].items():
            if col not in cur["stypes"]:
                raise ModelError(f"column {table}.{col} the model was trained on is missing from the database")
            if cur["stypes"][col] != stype:
                raise ModelError(
                    f"column {table}.{col} is {cur['stypes'][col]} but the model was trained with it as {stype}"
                )
        for col in cur["stypes"]:
            if col not in spec["stypes"]:
                raise ModelError(f"column {table}.{col} is new in the database; the model was trained without it")
        for part in ("primary_key", "foreign_keys", "time"):
            if cur[part] != spec[part]:
                raise ModelError(
                    f"table {table!r}: {part.replace('_', ' ')} is {cur[part]} but the model was trained with "
                    f"{spec[part]}"
                )


def trained_view(db: Database, trained: dict[str, Any]) -> Database:
    """``db`` restricted to the tables a model was trained on, after :func:`check_schema`.

    Args:
        db: the database to predict on; it may hold tables the model never saw.
        trained: the training schema in ``schema_to_dict`` form (a run's ``schema.toml``).
    Returns:
        ``db`` itself when it holds no other table, else ``db.subset(trained tables)`` (data
        shared), so graphs and features are built from exactly the training-time tables.
    """
    check_schema(trained, db)
    new = [name for name in db.tables if name not in trained["tables"]]
    if not new:
        return db
    logger.info("leaving out tables the model was not trained on: %s", ", ".join(new))
    return db.subset(trained["tables"])
