"""relgraph: relational deep learning on the database you already have.

    >>> import relgraph
    >>> db = relgraph.connect("sqlite:///shop.db")
    >>> db.schema
    >>> graph = relgraph.build_graph(db)
    >>> run = relgraph.train(db, "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id")
    >>> run.metrics["test"], run.predict(db)
    >>> run.save("churn_run"); run = relgraph.load("churn_run")
    >>> relgraph.ask(db, "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id", top=10)

Heavy layers (torch) are imported lazily, so ``relgraph.query``, ``relgraph.schema`` and
``relgraph.baselines`` work without torch.
"""

from __future__ import annotations

from typing import Any

from relgraph.database import Database, connect
from relgraph.errors import ModelError, QueryError, RelgraphError, SchemaError, SourceError
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo

__version__ = "0.1.0"

#: Public names loaded on first use (name -> module), so ``import relgraph`` stays light and
#: torch is imported only by what needs it.
_LAZY = {
    "build_graph": "relgraph.graph",
    "TemporalGraph": "relgraph.graph",
    "TemporalSampler": "relgraph.sampling",
    "TemporalNeighborLoader": "relgraph.sampling",
    "parse": "relgraph.query",
    "build_task": "relgraph.query",
    "make_training_table": "relgraph.query",
    "split_timestamps": "relgraph.query",
    "TaskTables": "relgraph.query",
    "GNNPredictor": "relgraph.gnn",
    "GNNConfig": "relgraph.gnn",
    "LightGBMPredictor": "relgraph.baselines",
    "TemporalFeatureBuilder": "relgraph.baselines",
    "make_demo_database": "relgraph.demo.generate",
    "train": "relgraph.runs.api",
    "load": "relgraph.runs.api",
    "Run": "relgraph.runs.api",
    "explain": "relgraph.runs.explain",
    "ask": "relgraph.runs.ask",
}

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
    "connect",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'relgraph' has no attribute {name!r}")
