"""LightGBM explanations: exact TreeSHAP (LightGBM's own ``pred_contrib=True``) per engineered
feature, grouped by the table each feature comes from, with the rows that feed each feature.

A feature of :class:`~relgraph.baselines.aggregates.TemporalFeatureBuilder` is named after where it
comes from: a lookup (the entity's own columns, ``customers.region``) or an event stream reached
through foreign keys (``orders.order_items.price.mean.last5``). :func:`feature_sources` maps each
name back to its table, column, stream path and window from the builder's own plan, and
:func:`evidence_rows` reads the entity's rows of that stream at or before the prediction time
(primary key, time, the column's value) with bound parameters, through ``db.duckdb()`` (read only).

Contributions are in the booster's raw units (log-odds for binary, the value for regression,
the predicted class's margin for multiclass), averaged over the ensemble's boosters; per booster
they sum exactly to its raw prediction. A row's contribution is the contributions of the features
it feeds, each shared equally among that feature's rows (the rows a feature aggregates are
interchangeable to the feature, so equal shares are the Shapley split of a symmetric aggregate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from relgraph.database import TIME_COLUMN, Database
from relgraph.runs.explain.models import lightgbm_parts

#: Features whose rows are looked up (highest |contribution| first); the rest count in tables only.
EVIDENCE_FEATURES = 12
#: Rows listed per feature at most (all of them count in row contributions).
ROWS_PER_FEATURE = 10
#: Rows read per stream at most for whole-history aggregates.
MAX_STREAM_ROWS = 500


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class FeatureSource:
    """Where one engineered feature comes from."""

    name: str
    table: str  # the table whose column (or rows) it reads
    column: str | None  # None: counts and recency of the stream's rows
    stream: str | None  # stream name (None: a lookup of the entity or an ancestor)
    chain: list[tuple[str, str, str]] | None  # (table, fk column, referenced column) from the entity down
    last_n: int | None
    window_days: int | None
    value_tag: str | None  # category value of a count / share feature
    parent: tuple[str, str, str] | None  # (parent table, fk column, referenced column) of an attached column
    negated: bool = False  # reads the rows whose column is *not* ``value_tag`` (recency off a dominant value)


def feature_sources(builder: Any, db: Database) -> dict[str, FeatureSource]:
    """Every kept feature of ``builder`` -> its :class:`FeatureSource` (builder's own plan)."""
    lookups, streams = builder._plan(db)
    entity = builder.entity_table_
    names = list(builder.features_ or [])
    out: dict[str, FeatureSource] = {}
    stream_chain = {s.name: _chain(db, entity, s, lookups) for s in streams}
    prefixes = sorted([(s.name, s) for s in streams] + [(lk.name, lk) for lk in lookups],
                      key=lambda p: -len(p[0]))
    for name in names:
        for prefix, part in prefixes:
            if not name.startswith(prefix + "."):
                continue
            rest = name[len(prefix) + 1:]
            if hasattr(part, "sql"):  # a stream
                out[name] = _stream_source(db, name, rest, part, stream_chain[part.name])
            else:
                column = next((c for c in sorted(part.numeric + part.categorical + part.timestamps, key=len, reverse=True)
                               if rest == c or rest.startswith(c + ".")), None)
                out[name] = FeatureSource(name, part.table, column, None, None, None, None, None, None)
            break
        else:
            out[name] = FeatureSource(name, entity, None, None, None, None, None, None, None)
    return out


def _chain(db: Database, entity: str, stream: Any, lookups: list[Any]) -> list[tuple[str, str, str]] | None:
    """The tables of an entity-anchored stream, first to last, with the foreign key each is reached by."""
    if stream.anchor != "__key":
        return None  # anchored at an ancestor: table-level only
    current, chain = entity, []
    for label in stream.name.split("."):
        step = next(((child, fk) for child, fk in db.schema.edges()
                     if fk.references_table == current and label in (child, f"{child}_by_{fk.column}")), None)
        if step is None:
            return None
        child, fk = step
        chain.append((child, fk.column, fk.references_column))
        current = child
    return chain


def _stream_source(db: Database, name: str, rest: str, stream: Any, chain: list[tuple[str, str, str]] | None) -> FeatureSource:
    table = chain[-1][0] if chain else stream.name.split(".")[-1].split("_by_")[0]
    tokens = rest.split(".")
    last_n = window = None
    tail = tokens[-1]
    if rest.endswith("days_since_last") or tail == "last":
        last_n = 1  # only the latest row sets it
    elif m := re.fullmatch(r"last(\d+)", tail):
        last_n = int(m.group(1))
    elif m := re.fullmatch(r"(\d+)d", tail):
        window = int(m.group(1))
    column = next((c for c in sorted(stream.numeric + stream.categorical, key=len, reverse=True)
                   if rest == c or rest.startswith(c + ".")), None)
    parent = None
    source_table = table
    if column is not None and column in stream.attached | {c for c in stream.numeric if "." in c} and "." in column:
        label, _ = column.split(".", 1)
        spec = db.schema[table]
        fk = next((f for f in spec.foreign_keys if f.references_table == label or f.column == label), None)
        if fk is not None:
            parent = (fk.references_table, fk.column, fk.references_column)
            source_table = fk.references_table
    value_tag = None
    if column is not None:
        after = rest[len(column) + 1:].split(".")
        if after and after[0] and after[0] not in ("sum", "mean", "std", "min", "max", "last", "mode", "count", "share"):
            value_tag = after[0]
    negated = False
    if value_tag is not None and rest.endswith("days_since_last"):
        last_n = None  # the latest row holding the value sets it, not the latest row
        # ``ne<v>`` of a numeric column: the days since the last row off its dominant value v.
        negated = value_tag.startswith("ne") and column in stream.numeric
        value_tag = value_tag[2:] if negated else value_tag
    return FeatureSource(name, source_table, column, stream.name, chain, last_n, window, value_tag, parent, negated)


def evidence_rows(db: Database, src: FeatureSource, key: Any, at: pd.Timestamp) -> pd.DataFrame:
    """The entity's rows a stream feature reads at ``at``: ``key`` (the last table's primary key),
    ``time``, ``value`` (the feature's column, when it has one), most recent first; only rows with
    time <= ``at`` (the builder's own visibility rule: a row exists once every row of its chain does)."""
    empty = pd.DataFrame(columns=["key", "time", "value"])
    if not src.chain:
        return empty
    schema = db.schema
    aliases = [f"c{i}" for i in range(len(src.chain))]
    first, fk0, _ = src.chain[0]
    froms = [f"{_q(first)} c0"]
    for i in range(1, len(src.chain)):
        t, fk, ref = src.chain[i]
        froms.append(f"JOIN {_q(t)} {aliases[i]} ON {aliases[i]}.{_q(fk)} = {aliases[i - 1]}.{_q(ref)}")
    timed = [f"{a}.{TIME_COLUMN}" for (t, _, _), a in zip(src.chain, aliases) if schema[t].time is not None]
    t_expr = "NULL" if not timed else (timed[0] if len(timed) == 1 else f"GREATEST({', '.join(timed)})")
    last_table = src.chain[-1][0]
    last = aliases[-1]
    pk = schema[last_table].primary_key
    key_expr = f"{last}.{_q(pk)}" if pk else "NULL"
    value_expr = "NULL"
    if src.column is not None and src.parent is not None:
        ptable, pfk, pref = src.parent
        pvis = "TRUE" if schema[ptable].time is None else f"p.{TIME_COLUMN} <= {t_expr}"
        froms.append(f"LEFT JOIN {_q(ptable)} p ON p.{_q(pref)} = {last}.{_q(pfk)} AND {pvis}")
        value_expr = f"p.{_q(src.column.split('.', 1)[1])}"
    elif src.column is not None:
        value_expr = f"{last}.{_q(src.column)}"
    where = [f"c0.{_q(fk0)} = $key"]
    params: dict[str, Any] = {"key": _plain(key), "at": pd.Timestamp(at).to_pydatetime()}
    if timed:
        where.append(f"{t_expr} IS NOT NULL AND {t_expr} <= $at")
        if src.window_days:
            where.append(f"{t_expr} > $at - INTERVAL {int(src.window_days)} DAY")
    limit = src.last_n or MAX_STREAM_ROWS
    order = f"{t_expr} DESC, {key_expr} DESC" if timed else f"{key_expr} DESC"
    sql = (f"SELECT {key_expr} AS key, {t_expr} AS time, {value_expr} AS value FROM {' '.join(froms)} "
           f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {int(limit)}")
    # The database's own connection: its table views are registered there only.
    return db.duckdb().execute(sql, params).df()


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def shap_values(model: Any, x: pd.DataFrame, class_index: int | None = None, at: Any = None) -> tuple[np.ndarray, float]:
    """TreeSHAP contributions of ``x``'s one row [n_features] and the base value, averaged over
    the boosters that score a row at ``at`` (LightGBM's ``pred_contrib=True``; raw units)."""
    boosters, iterations, _, meta = lightgbm_parts(model, at)
    n = x.shape[1]
    parts = []
    for booster, it in zip(boosters, iterations):
        contrib = np.asarray(booster.predict(x, num_iteration=it, pred_contrib=True), dtype=float)[0]
        if meta["task_type"] == "multiclass":
            k = int(class_index or 0)
            contrib = contrib[k * (n + 1):(k + 1) * (n + 1)]
        parts.append(contrib)
    mean = np.mean(parts, axis=0)
    return mean[:n], float(mean[n])


def explain_lightgbm(model: Any, db: Database, key: Any, at: pd.Timestamp, prediction: Any,
                     evidence_features: int = EVIDENCE_FEATURES) -> dict[str, Any]:
    """Explanation of one (entity, time) by a LightGBM predictor: features, tables, rows."""
    _, _, builder, meta = lightgbm_parts(model)
    entity_key = meta["entity_key"]
    frame = pd.DataFrame({entity_key: [key], "timestamp": [pd.Timestamp(at)]})
    x = builder.transform(db, frame, entity_key)
    class_index = None
    if meta["task_type"] == "multiclass":
        class_index = int(np.argmax(np.asarray(prediction)))
    contrib, base = shap_values(model, x, class_index, at)
    sources = feature_sources(builder, db)
    features = []
    for name, c in zip(x.columns, contrib):
        src = sources.get(name)
        value = x[name].iloc[0]
        features.append({
            "feature": name,
            "table": src.table if src else meta["entity_table"],
            "column": src.column if src else None,
            "value": _json_value(value),
            "contribution": float(c),
        })
    features.sort(key=lambda f: -abs(f["contribution"]))
    tables: dict[str, float] = {}
    for f in features:
        tables[f["table"]] = tables.get(f["table"], 0.0) + f["contribution"]
    rows: dict[tuple[str, Any], dict[str, Any]] = {}
    for f in features[:evidence_features]:
        src = sources.get(f["feature"])
        if src is None or not src.chain or f["contribution"] == 0.0:
            continue
        ev = evidence_rows(db, src, key, at)
        if src.value_tag is not None and src.column is not None and ".share" not in src.name:
            # A count of one value reads only the rows holding that value.
            ev = ev[[_selects(src, v) for v in ev["value"]]]
            if src.name.endswith(".days_since_last"):
                ev = ev.head(1)  # recency of a value: only its latest row sets it
        row_table = src.chain[-1][0]
        f["rows"] = [{"table": row_table, "key": _json_value(r.key), "time": _json_value(r.time),
                      **({src.column: _json_value(r.value)} if src.column else {})}
                     for r in ev.head(ROWS_PER_FEATURE).itertuples()]
        f["row_count"] = len(ev)
        f["text"] = describe_feature(src, f["value"], ev)
        share = f["contribution"] / len(ev) if len(ev) else 0.0
        for r in ev.itertuples():
            entry = rows.setdefault((row_table, _json_value(r.key)), {
                "table": row_table, "key": _json_value(r.key), "time": _json_value(r.time),
                "contribution": 0.0, "columns": {}, "features": []})
            entry["contribution"] += share
            if src.column:
                entry["columns"][src.column] = _json_value(r.value)
            entry["features"].append(f["feature"])
    for f in features[:evidence_features]:
        f.setdefault("text", describe_feature(sources.get(f["feature"]), f["value"], None))
    ranked_rows = sorted(rows.values(), key=lambda r: -abs(r["contribution"]))
    return {
        "method": "TreeSHAP (LightGBM pred_contrib), mean over the ensemble's boosters",
        "units": _units(meta["task_type"]),
        "base_value": base,
        "tables": _table_list(tables),
        "features": features,
        "rows": ranked_rows,
    }


def _units(task_type: str) -> str:
    return {"binary": "log-odds", "regression": "value", "multiclass": "class margin"}.get(task_type, "score")


def _table_list(tables: dict[str, float]) -> list[dict[str, Any]]:
    return [{"table": t, "contribution": float(v)} for t, v in sorted(tables.items(), key=lambda kv: -abs(kv[1]))]


def _json_value(value: Any) -> Any:
    """JSON-friendly scalar: NaN/NaT -> None, timestamps -> ISO text, NumPy -> Python."""
    if value is None:
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(value)
        return None if ts is pd.NaT else ts.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def describe_feature(src: FeatureSource | None, value: Any, ev: pd.DataFrame | None) -> str:
    """One line in the entity's own terms, e.g. ``3 of the last 5 orders rows had channel = web
    (orders 812, 790, 771)``."""
    if src is None:
        return f"= {_fmt(value)}"
    name = src.name
    if src.stream is None:
        col = src.column or name.split(".")[-1]
        if name.endswith(".age_days") and value is not None:
            return f"{src.table}.{col} was {_fmt(value)} days before"
        if name.endswith(".days_since_anniversary") and value is not None:
            what = f"{src.table}.{src.column}" if src.column else f"the {src.table} row's time"
            return f"the last anniversary of {what} was {_fmt(value)} days before"
        return f"{src.table}.{col} = {_fmt(value)}"
    table = src.chain[-1][0] if src.chain else src.table
    scope = (f"the last {src.last_n} {table} rows" if src.last_n else
             f"{table} rows in the last {src.window_days} days" if src.window_days else f"all past {table} rows")
    keys = ""
    if ev is not None and len(ev):
        shown = [str(_json_value(k)) for k in ev["key"].head(5)]
        if src.value_tag is not None and src.column is not None:
            shown = [str(_json_value(k)) for k, v in zip(ev["key"], ev["value"]) if _selects(src, v)][:5]
        keys = f" ({table} rows {', '.join(shown)}{', …' if len(ev) > 5 else ''})" if shown else ""
    if value is None:
        return f"no value ({scope}: none){keys}"
    if src.column is None:
        if ".days_since_last" in name:
            return f"the last {table} row was {_fmt(value)} days before{keys}"
        if ".days_since_first" in name:
            return f"the first {table} row was {_fmt(value)} days before{keys}"
        return f"{_fmt(value)} {table} rows" + (f" in the last {src.window_days} days" if src.window_days else "") + keys
    tag = src.value_tag
    if tag is not None and name.endswith(".days_since_last"):
        return (f"the last {table} row with {src.column} {'!=' if src.negated else '='} {tag.removeprefix('eq')} "
                f"was {_fmt(value)} days before{keys}")
    if tag is not None and ".share" in name and src.last_n:
        n = len(ev) if ev is not None else src.last_n
        hits = int(round(float(value) * n)) if isinstance(value, (int, float)) else value
        return f"{hits} of the last {n} {table} rows had {src.column} = {tag.removeprefix('eq')}{keys}"
    if tag is not None and ".share" in name:
        return f"a share {_fmt(value)} of {scope} had {src.column} = {tag.removeprefix('eq')}{keys}"
    if tag is not None and ".count" in name:
        return f"{_fmt(value)} of {scope} had {src.column} = {tag}{keys}"
    agg = name[len(src.stream) + 1 + len(src.column) + 1:].split(".")[0] if src.stream else "value"
    words = {"sum": "sum", "mean": "mean", "std": "spread", "min": "minimum", "max": "maximum",
             "last": "latest", "mode": "most frequent"}
    if agg in ("last", "mode"):
        return f"{words[agg]} {table}.{src.column} = {_fmt(value)}{keys}"
    return f"{words.get(agg, agg)} of {src.column} over {scope} = {_fmt(value)}{keys}"


def _selects(src: FeatureSource, value: Any) -> bool:
    """Whether a row with ``value`` in the feature's column is one the feature reads."""
    return _matches(value, src.value_tag or "") != src.negated


def _matches(value: Any, tag: str) -> bool:
    text = str(_json_value(value))
    tag = tag.removeprefix("eq")
    try:
        return float(text) == float(tag)
    except ValueError:
        return text == tag
