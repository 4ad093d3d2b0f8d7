"""relgraph: relational deep learning on the database you already have.

    >>> import relgraph
    >>> db = relgraph.connect("sqlite:///shop.db")
    >>> db.schema
    >>> graph = relgraph.build_graph(db)

Heavy layers (torch) are imported lazily, so ``relgraph.query``, ``relgraph.schema`` and
``relgraph.baselines`` work without torch.
"""

from __future__ import annotations

from typing import Any

from relgraph.database import Database, connect
from relgraph.errors import ModelError, QueryError, RelgraphError, SchemaError, SourceError
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo

__version__ = "0.1.0"

__all__ = [
    "Column",
    "Database",
    "ForeignKey",
    "ModelError",
    "QueryError",
    "RelgraphError",
    "Schema",
    "SchemaError",
    "SourceError",
    "SType",
    "TableSchema",
    "TimeInfo",
    "build_graph",
    "connect",
]


def __getattr__(name: str) -> Any:
    if name == "build_graph":
        from relgraph.graph import build_graph

        return build_graph
    raise AttributeError(f"module 'relgraph' has no attribute {name!r}")
