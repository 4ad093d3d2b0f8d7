"""Explanations of single predictions in terms of the user's own tables and rows.

    >>> from relgraph.runs.explain import explain
    >>> out = explain("runs/churn", db, [42], at="2024-06-30")   # one dict per id
    >>> out = relgraph.load("runs/churn").explain(db, [42], at="2024-06-30")   # the same
    >>> out[0]["tables"], out[0]["rows"][:3], out[0]["summary"]

- LightGBM: exact TreeSHAP (``pred_contrib``) per engineered feature, grouped by table, with the
  rows each feature reads (:mod:`relgraph.runs.explain.tabular`);
- GNN: occlusion of rows, tables and hops on the sampled temporal subgraph
  (:mod:`relgraph.runs.explain.graph`);
- blend: both, weighted as the blend weights them (GNN weight ``w``, LightGBM ``1 - w``; binary
  blends in log-odds, which is the unit both explanations use);
- ranking (``RANK TOP k``): LightGBM ranker: TreeSHAP of each top target's pair features; GNN
  ranker: the entity's past events with each top target.

Every explanation sees only rows with time <= ``at``, like the prediction it explains; nothing
is written anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.runs.explain.models import blend_parts
from relgraph.runs.explain.run import LoadedRun, UnknownIdError, check_at, check_ids, load_run, parse_at
from relgraph.runs.folder import RunFolder

__all__ = ["UnknownIdError", "explain", "explain_one", "check_at", "check_ids", "load_run", "LoadedRun", "parse_at", "summary_lines"]


def explain(run: RunFolder | str | Path, db: Database, ids: list[Any], at: object = None) -> list[dict[str, Any]]:
    """One explanation dict per id at ``at`` (default: where the query's target rows end, ``default_at``).

    Args:
        run: a run folder (``relgraph train --out``), a :class:`~relgraph.runs.api.Run`
            (``relgraph.load``) or a :class:`LoadedRun` (``load_run(folder, kind)``: a member).
        db: the database to explain on, opened like ``relgraph predict`` (``run.connect(source)``).
        ids: entity key values.
        at: prediction time (text or timestamp).
    """
    loaded = LoadedRun.of(run)
    at_ts = check_at(db, parse_at(at, db, loaded.query))
    keys = check_ids(db, loaded, list(ids), at_ts)
    return [explain_one(loaded, db, key, at_ts) for key in keys]


def explain_one(run: LoadedRun, db: Database, key: Any, at: pd.Timestamp) -> dict[str, Any]:
    """The explanation of one checked id at one checked time."""
    pred = run.predict_ids(db, [key], at).iloc[0].to_dict()
    out: dict[str, Any] = {
        "entity": {"table": run.entity_table, "key": run.entity_key, "id": _plain(key)},
        "at": pd.Timestamp(at).isoformat(),
        "model": run.kind,
        "task_type": run.task_type,
        "prediction": {k: _plain(v) for k, v in pred.items() if k not in (run.entity_key, "timestamp")},
    }
    out.update(_explain_model(run, db, key, at, run.model, run.kind))
    out["summary"] = summary_lines(out)
    return out


def _explain_model(run: LoadedRun, db: Database, key: Any, at: pd.Timestamp, model: Any, kind: str) -> dict[str, Any]:
    classes = run.config.get("classes")
    if kind == "lightgbm":
        from relgraph.runs.explain.tabular import explain_lightgbm

        raw = model.predict(db, pd.DataFrame({run.entity_key: [key], "timestamp": [at]}))[0]
        return explain_lightgbm(model, db, key, at, raw)
    if kind == "gnn":
        from relgraph.runs.explain.graph import explain_gnn

        return explain_gnn(model, db, key, at, class_index=_class_index(run, model, db, key, at, classes))
    if kind == "blend":
        return _explain_blend(run, db, key, at, model)
    from relgraph.runs.explain.ranking import explain_ranking

    return explain_ranking(run, db, key, at, model, kind)


def _class_index(run: LoadedRun, model: Any, db: Database, key: Any, at: pd.Timestamp, classes: Any) -> int | None:
    """The model's predicted class column (multiclass), so every member explains the same class."""
    if run.task_type != "multiclass":
        return None
    proba = run.model.predict(db, pd.DataFrame({run.entity_key: [key], "timestamp": [at]}))[0]
    label = (run.config.get("classes") or [])[int(np.argmax(proba))]
    own = list(model.classes_ or [])
    return own.index(label) if label in own else int(np.argmax(proba))


def _explain_blend(run: LoadedRun, db: Database, key: Any, at: pd.Timestamp, model: Any) -> dict[str, Any]:
    members, weight = blend_parts(model)
    parts = {kind: _explain_model(run, db, key, at, members[kind], kind) for kind in ("gnn", "lightgbm")}
    weights = {"gnn": weight, "lightgbm": 1.0 - weight}
    tables: dict[str, float] = {}
    rows: dict[tuple[str, Any], dict[str, Any]] = {}
    for kind, part in parts.items():
        for t in part["tables"]:
            tables[t["table"]] = tables.get(t["table"], 0.0) + weights[kind] * t["contribution"]
        for r in part["rows"]:
            entry = rows.setdefault((r["table"], r["key"]), {k: v for k, v in r.items() if k not in ("contribution", "row", "features")}
                                    | {"contribution": 0.0})
            entry["contribution"] += weights[kind] * r["contribution"]
            entry.setdefault("columns", {}).update(r.get("columns", {}))
    from relgraph.runs.explain.tabular import _table_list

    return {
        "method": f"blend: {weight:.1f} x GNN occlusion + {1 - weight:.1f} x LightGBM TreeSHAP",
        "units": parts["lightgbm"]["units"],
        "weights": weights,
        "tables": _table_list(tables),
        "hops": [dict(h, contribution=weight * h["contribution"]) for h in parts["gnn"].get("hops", [])],
        "features": [dict(f, contribution=weights["lightgbm"] * f["contribution"]) for f in parts["lightgbm"]["features"]],
        "rows": sorted(rows.values(), key=lambda r: -abs(r["contribution"])),
        "members": parts,
    }


def summary_lines(exp: dict[str, Any], rows: int = 3, features: int = 3) -> list[str]:
    """A few sentences for people: the prediction, the tables that moved it, the top rows and features."""
    lines = []
    pred = exp.get("prediction", {})
    ent = exp["entity"]
    shown = ", ".join(f"{k} {_short(v)}" for k, v in pred.items() if k != "label")
    lines.append(f"{ent['table']}.{ent['key']}={ent['id']} at {exp['at']}: {shown} ({exp['model']})")
    tables = exp.get("tables", [])
    if tables:
        parts = ", ".join(f"{t['table']} {t['contribution']:+.3f}" for t in tables[:4])
        lines.append(f"by table ({exp.get('units', '')}): {parts}")
    for t in exp.get("targets", []):
        lines.append(f"  {t['text']}")
    for f in [f for f in exp.get("features", []) if f.get("text")][:features]:
        lines.append(f"  {f['contribution']:+.3f}  {f['feature']}: {f['text']}")
    for r in exp.get("rows", [])[:rows]:
        when = f" at {r['time']}" if r.get("time") else ""
        cols = ", ".join(f"{k}={_short(v)}" for k, v in list((r.get("columns") or {}).items())[:4])
        lines.append(f"  {r['contribution']:+.3f}  {r['table']} row {r['key']}{when}" + (f" ({cols})" if cols else ""))
    return lines


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value[:10]) + "]"
    return str(value)


def _plain(value: Any) -> Any:
    from relgraph.runs.explain.tabular import _json_value

    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    return _json_value(value)
