"""Faithfulness of explanations, measured: removing the top-attributed rows must change the
prediction more than removing as many random rows of the same entity.

- GNN: rows removed from the entity's sampled subgraph (occlusion, :mod:`relgraph.runs.explain.graph`);
  random rows drawn from the same subgraph.
- LightGBM: rows deleted from the database (a copy, as ``db.cut`` makes one; the user's database is
  never touched), features recomputed; random rows drawn from the rows the entity's features read.

Changes are absolute, in explanation units (log-odds for binary tasks).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from relgraph.connectors.base import SourceData
from relgraph.database import Database
from relgraph.runs.explain.models import blend_parts
from relgraph.runs.explain.run import LoadedRun


def without_rows(db: Database, rows: list[tuple[str, Any]]) -> Database:
    """A copy of ``db`` without the rows ``(table, primary key value)`` (Arrow data shared where untouched)."""
    drop: dict[str, set[Any]] = {}
    for table, key in rows:
        drop.setdefault(table, set()).add(key)
    tables = dict(db.tables)
    schema = copy.deepcopy(db.schema)
    for table, keys in drop.items():
        pk = db.schema[table].primary_key
        column = db.tables[table].column(pk).to_pandas()
        keep = ~column.isin(list(keys)).to_numpy()
        tables[table] = db.tables[table].filter(pa.array(keep))
        schema.tables[table].rows = tables[table].num_rows
    tag = ",".join(f"{t}:{k}" for t, k in sorted(rows, key=str))
    data = SourceData(db.source, tables, db.declared, f"{db.fingerprint}-without[{tag}]")
    return Database(data, schema)


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return float(np.log(p) - np.log1p(-p))


def gnn_gap(model: Any, db: Database, key: Any, at: pd.Timestamp, k: int, draws: int,
            rng: np.random.Generator) -> tuple[float, float] | None:
    """(|change| removing the top-k rows, mean |change| removing k random rows) on the subgraph."""
    from relgraph.runs.explain.graph import explain_gnn, remove_rows_effect

    exp = explain_gnn(model, db, key, at, max_rows=0)
    pool = [(r["table"], r["row"]) for r in exp["rows"]]
    if len(pool) <= k:
        return None
    top = pool[:k]  # rows are sorted by |contribution|
    randoms = [[pool[i] for i in rng.choice(len(pool), k, replace=False)] for _ in range(draws)]
    effects = remove_rows_effect(model, db, key, at, [top] + randoms)
    return float(effects[0]), float(effects[1:].mean())


def lightgbm_gap(model: Any, db: Database, key: Any, at: pd.Timestamp, k: int, draws: int,
                 rng: np.random.Generator) -> tuple[float, float] | None:
    """(|change| deleting the top-k rows from the database, mean |change| deleting k random rows)."""
    from relgraph.runs.explain.neighbourhood import restrict
    from relgraph.runs.explain.tabular import explain_lightgbm

    # The entity's neighbourhood gives the same features (exact), and each deletion then recomputes only it.
    db = restrict(db, model.builder, [key]) or db
    key_col = model.meta_["entity_key"]
    frame = pd.DataFrame({key_col: [key], "timestamp": [pd.Timestamp(at)]})
    base = model.predict(db, frame)[0]
    exp = explain_lightgbm(model, db, key, at, base, evidence_features=10_000)
    pool = [(r["table"], r["key"]) for r in exp["rows"]]
    if len(pool) <= k:
        return None
    top = pool[:k]
    randoms = [[pool[i] for i in rng.choice(len(pool), k, replace=False)] for _ in range(draws)]

    def change(rows: list[tuple[str, Any]]) -> float:
        pred = model.predict(without_rows(db, rows), frame)[0]
        if model.meta_["task_type"] == "binary":
            return abs(_logit(pred) - _logit(base))
        return float(np.abs(np.asarray(pred) - np.asarray(base)).max())

    return change(top), float(np.mean([change(r) for r in randoms]))


def faithfulness(run: LoadedRun, db: Database, ids: list[Any], at: pd.Timestamp, k: int = 3, draws: int = 5,
                 seed: int = 0) -> dict[str, dict[str, float]]:
    """Per member kind (``gnn``, ``lightgbm``): mean |change| removing the top-k rows and k random
    rows over ``ids``, their gap, and the share of ids where the top rows moved it more."""
    rng = np.random.default_rng(seed)
    models = dict(blend_parts(run.model)[0]) if run.kind == "blend" else {run.kind: run.model}
    out = {}
    for kind, model in models.items():
        gap = gnn_gap if kind == "gnn" else lightgbm_gap
        pairs = [p for p in (gap(model, db, key, at, k, draws, rng) for key in ids) if p is not None]
        if not pairs:
            continue
        top, rand = np.array(pairs).T
        out[kind] = {"entities": len(pairs), "k": k, "top_change": float(top.mean()), "random_change": float(rand.mean()),
                     "gap": float(top.mean() - rand.mean()), "top_wins": float((top > rand).mean())}
    return out
