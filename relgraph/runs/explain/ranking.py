"""Explanations of ``RANK TOP k`` predictions: why each of the top targets was ranked.

- LightGBM ranker: exact TreeSHAP (``pred_contrib``) of each top target's pair features, grouped
  by the table they describe (the entity's own past picks and everyone's picks: the event table;
  the target's age: the target table);
- ranking GNN: the evidence only (no attribution): the entity's past events with each top target.

Both list the entity's past event rows with each target (primary key, time), at or before ``at``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from relgraph.database import TIME_COLUMN, Database
from relgraph.runs.explain.run import LoadedRun
from relgraph.runs.explain.tabular import _json_value, _q, _table_list

#: Past events listed per target at most.
EVENTS_PER_TARGET = 5


def explain_ranking(run: LoadedRun, db: Database, key: Any, at: pd.Timestamp, model: Any, kind: str) -> dict[str, Any]:
    """Explanation of one entity's top-k list at ``at``."""
    spec = model.spec
    frame = pd.DataFrame({spec.entity_key: [key], "timestamp": [pd.Timestamp(at)]})
    ids, scores = model.rank(db, frame)
    targets = []
    tables: dict[str, float] = {}
    contribs: dict[Any, dict[str, float]] = {}
    if kind == "ranking_lightgbm":
        contribs = _pair_contributions(model, db, frame)
    for target, score in zip(ids[0], scores[0]):
        if target is None:
            continue
        events = past_events(db, spec, key, target, at)
        entry: dict[str, Any] = {
            "target": _json_value(target),
            "score": _json_value(float(score)),
            "events": [{"table": spec.event_table, "key": _json_value(r.key), "time": _json_value(r.time)}
                       for r in events.head(EVENTS_PER_TARGET).itertuples()],
            "event_count": len(events),
        }
        feats = contribs.get(_json_value(target))
        if feats:
            entry["features"] = [{"feature": f, "contribution": c} for f, c in sorted(feats.items(), key=lambda kv: -abs(kv[1]))]
            for f, c in feats.items():
                table = spec.target_table if f == "target_age_days" else spec.event_table
                tables[table] = tables.get(table, 0.0) + c
        entry["text"] = (f"{spec.target_table} {entry['target']}: picked {len(events)} times before"
                         + (f" ({spec.event_table} rows {', '.join(str(e['key']) for e in entry['events'])})" if len(events) else
                            " (never: ranked by popularity and the graph)"))
        targets.append(entry)
    rows = [dict(e, contribution=0.0) for t in targets for e in t["events"]]
    return {
        "method": ("TreeSHAP (LightGBM pred_contrib) of each top target's pair features" if kind == "ranking_lightgbm"
                   else "evidence: the entity's past events with each top target (no attribution for the ranking GNN)"),
        "units": "log-odds" if kind == "ranking_lightgbm" else "score",
        "tables": _table_list(tables),
        "targets": targets,
        "rows": rows,
        "features": [],
    }


def _pair_contributions(model: Any, db: Database, frame: pd.DataFrame) -> dict[Any, dict[str, float]]:
    """Target id -> {pair feature: TreeSHAP contribution} for every candidate of the one frame row."""
    from relgraph.query.interactions import PAIR_FEATURES

    rows, position, feats = model.candidates(db, frame)
    if not len(rows):
        return {}
    booster = model.booster_
    contrib = np.asarray(booster.predict(feats, num_iteration=booster.best_iteration or None, pred_contrib=True))
    ids = model.log(db).target_ids.to_numpy()[position]
    return {_json_value(t): {f: float(c) for f, c in zip(PAIR_FEATURES, row[:-1])} for t, row in zip(ids, contrib)}


def past_events(db: Database, spec: Any, key: Any, target: Any, at: pd.Timestamp) -> pd.DataFrame:
    """The entity's event rows with ``target`` at or before ``at``, most recent first (``key``, ``time``)."""
    schema = db.schema
    froms = [f"{_q(spec.event_table)} e0"]
    alias = "e0"
    for i, (_child, fk, parent, parent_col) in enumerate(spec.path):
        froms.append(f"JOIN {_q(parent)} p{i} ON p{i}.{_q(parent_col)} = {alias}.{_q(fk)}")
        alias = f"p{i}"
    entity_alias = alias if spec.path else "e0"
    entity_col = spec.entity_key if spec.path else spec.target_column
    pk = schema[spec.event_table].primary_key
    key_expr = f"e0.{_q(pk)}" if pk else "NULL"
    timed = schema[spec.event_table].time is not None
    where = [f"{entity_alias}.{_q(entity_col)} = $key", f"e0.{_q(spec.target_column)} = $target"]
    if timed:
        where.append(f"e0.{TIME_COLUMN} <= $at")
    sql = (f"SELECT {key_expr} AS key, {'e0.' + TIME_COLUMN if timed else 'NULL'} AS time FROM {' '.join(froms)} "
           f"WHERE {' AND '.join(where)} ORDER BY 2 DESC NULLS LAST LIMIT 200")
    params = {"key": _plain(key), "target": _plain(target), "at": pd.Timestamp(at).to_pydatetime()}
    if not timed:
        params.pop("at")
    return db.duckdb().execute(sql, params).df()


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
