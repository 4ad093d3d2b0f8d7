"""What a trained model sees of a database: the tables it was trained on, checked against training.

A database may grow tables after training (``relgraph predict --write-table``, or anything
unrelated); models leave them out (:func:`trained_tables_only`, applied by the CLI for every
model kind and by the GNNs). :func:`check_schema` (the GNNs) raises a one-line
:class:`ModelError` for a trained table or column that is missing or changed, or a new column
in a trained table. Torch-free.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from relgraph.database import Database
from relgraph.errors import ModelError, SchemaError
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


def trained_tables_only(db: Database, tables: Iterable[str]) -> Database:
    """``db`` restricted to ``tables``, the tables a model was trained on; the one place that
    leaves out the others (logging their names once).

    Args:
        db: the database to predict on; it may hold tables the model never saw.
        tables: names of the training-time tables.
    Returns:
        ``db`` itself when it holds no other table, else ``db.subset(tables)`` (data shared).
    Raises:
        ModelError: a trained table is missing, or refers to a table the model was not trained on.
    """
    tables = list(tables)
    for table in tables:
        if table not in db.tables:
            raise ModelError(f"table {table!r} the model was trained on is missing from the database")
    new = [name for name in db.tables if name not in tables]
    if not new:
        return db
    logger.info("leaving out tables the model was not trained on: %s", ", ".join(new))
    try:
        return db.subset(tables)
    except SchemaError as err:
        raise ModelError(f"{err}; the model was trained without it") from err


def trained_view(db: Database, trained: dict[str, Any]) -> Database:
    """:func:`check_schema`, then ``db`` restricted to the trained tables
    (:func:`trained_tables_only`), so graphs and features are built from exactly those.

    Args:
        db: the database to predict on.
        trained: the training schema in ``schema_to_dict`` form.
    """
    check_schema(trained, db)
    return trained_tables_only(db, trained["tables"])
