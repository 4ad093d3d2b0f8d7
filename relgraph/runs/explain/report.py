"""The explanations section of ``report.html``: the global picture and three example explanations.

- contribution per table: mean |contribution| over test rows (LightGBM: TreeSHAP of a seeded sample
  of :data:`MAX_SHAP_ROWS` test rows, all of them when fewer; GNN: occlusion of :data:`MAX_GNN_ROWS`
  test rows; blend: both, weighted), and per hop (GNN);
- three test rows explained in full: the highest and the lowest prediction and the most
  confidently wrong one.

Called by ``relgraph.runs.report.write_report`` once the run folder holds everything but the
report; it reopens the run's database like ``relgraph predict`` does. Never fails the training
run: any error becomes a one-line note in the section.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.runs.explain.models import blend_parts, lightgbm_parts
from relgraph.runs.explain.run import LoadedRun, load_run

logger = logging.getLogger(__name__)

#: A mean over 500 rows is within a few per cent of the mean over all (its standard error is
#: 1/22 of a row's spread), at a quarter of the 2,000 rows' seconds at the end of every run.
MAX_SHAP_ROWS = 500
MAX_GNN_ROWS = 20


def explanation_section(run_dir: Path, db: Any = None, lightgbm_tables: dict[str, float] | None = None) -> str:
    """HTML of the section for the run in ``run_dir`` (``db``: the database, else reopened;
    ``lightgbm_tables``: :func:`lightgbm_table_contributions` of the run's LightGBM, made while the
    run waited for its GNN, used when the kept model is LightGBM or the blend)."""
    try:
        run = load_run(run_dir)
        if db is None:
            source = run.config.get("source_database")
            if not source or source.startswith("memory://"):
                return _note("the run's database cannot be reopened, so no explanations here; use relgraph explain")
            db = run.connect(source, str(run_dir / "schema.toml") if run.config.get("schema_file") else None)
        return _section(run, db, lightgbm_tables)
    except Exception as err:  # noqa: BLE001 - the report must be written whatever happens here
        logger.info("explanations section skipped: %s", err)
        return _note(f"explanations unavailable: {str(err).splitlines()[0] if str(err) else type(err).__name__}")


def _note(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _section(run: LoadedRun, db: Any, lightgbm_tables: dict[str, float] | None = None) -> str:
    preds_path = run.run_dir / "predictions.parquet"
    if not preds_path.exists():
        return _note("no test predictions in the run")
    preds = pd.read_parquet(preds_path)
    parts = []
    if run.task_type != "ranking":
        tables, hops = global_contributions(run, db, preds, lightgbm_tables)
        if tables:
            rows = "".join(f"<tr><td>{html.escape(t)}</td><td>{v:.4f}</td></tr>" for t, v in tables)
            parts.append(f"<h3>Contribution per table</h3><p>Mean |contribution| over test rows ({html.escape(_units(run))}).</p>"
                         f"<table><tr><th>table</th><th>mean |contribution|</th></tr>{rows}</table>")
        if hops:
            rows = "".join(f"<tr><td>{h}</td><td>{v:.4f}</td></tr>" for h, v in hops)
            parts.append("<h3>Contribution per hop (GNN)</h3>"
                         f"<table><tr><th>hop</th><th>mean |contribution|</th></tr>{rows}</table>")
    from relgraph.runs.explain import explain_one, summary_lines

    for title, row in examples(run, preds):
        exp = explain_one(run, db, _plain(row[run.entity_key]), pd.Timestamp(row["timestamp"]))
        label = f" (label {html.escape(str(row['label']))})" if "label" in row else ""
        lines = "\n".join(summary_lines(exp, rows=5, features=5))
        parts.append(f"<h3>{html.escape(title)}{label}</h3><pre>{html.escape(lines)}</pre>")
    return "\n".join(parts) or _note("nothing to explain")


def _units(run: LoadedRun) -> str:
    return {"binary": "log-odds", "regression": "predicted value", "multiclass": "class score"}.get(run.task_type, "score")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def examples(run: LoadedRun, preds: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """(title, test row): the highest, the lowest and the most confidently wrong prediction."""
    if not len(preds):
        return []
    if run.task_type == "ranking":
        return [("An example ranking", preds.iloc[0])]
    score = preds["probability"] if "probability" in preds else preds["prediction"]
    out = [("Highest prediction", preds.loc[score.idxmax()]), ("Lowest prediction", preds.loc[score.idxmin()])]
    if "label" in preds:
        if run.task_type == "binary":
            wrong = preds["prediction"] != preds["label"]
            error = (preds["probability"] - preds["label"]).abs().where(wrong)
        elif run.task_type == "regression":
            error = (preds["prediction"] - preds["label"]).abs()
        else:
            error = preds["probability"].where(preds["prediction"] != preds["label"])
        if error.notna().any():
            out.append(("A wrong prediction (the most confident)", preds.loc[error.idxmax()]))
    return out


def global_contributions(run: LoadedRun, db: Any, preds: pd.DataFrame, lightgbm_tables: dict[str, float] | None = None,
                         ) -> tuple[list[tuple[str, float]], list[tuple[int, float]]]:
    """Mean |contribution| per table and per hop over test rows, weighted as the model weights its parts
    (``lightgbm_tables``: the LightGBM part's, already computed)."""
    models = dict(blend_parts(run.model)[0]) if run.kind == "blend" else {run.kind: run.model}
    weights = ({"gnn": blend_parts(run.model)[1], "lightgbm": 1 - blend_parts(run.model)[1]} if run.kind == "blend"
               else {run.kind: 1.0})
    frame = preds[[run.entity_key, "timestamp"]]
    tables: dict[str, float] = {}
    hops: dict[int, float] = {}
    if "lightgbm" in models:
        if lightgbm_tables is None:
            lightgbm_tables = _shap_tables(models["lightgbm"], db, _shap_rows(frame))
        for t, v in lightgbm_tables.items():
            tables[t] = tables.get(t, 0.0) + weights["lightgbm"] * v
    if "gnn" in models:
        from relgraph.runs.explain.graph import explain_gnn

        sample = frame.sample(min(MAX_GNN_ROWS, len(frame)), random_state=0) if len(frame) else frame
        per_table: dict[str, list[float]] = {}
        per_hop: dict[int, list[float]] = {}
        for key, ts in sample.itertuples(index=False):
            exp = explain_gnn(models["gnn"], db, _plain(key), pd.Timestamp(ts), max_rows=0)
            for t in exp["tables"]:
                per_table.setdefault(t["table"], []).append(abs(t["contribution"]))
            for h in exp["hops"]:
                per_hop.setdefault(h["hop"], []).append(abs(h["contribution"]))
        n = max(len(sample), 1)
        for t, vals in per_table.items():
            tables[t] = tables.get(t, 0.0) + weights["gnn"] * sum(vals) / n
        hops = {h: weights["gnn"] * sum(v) / n for h, v in per_hop.items()}
    return sorted(tables.items(), key=lambda kv: -kv[1]), sorted(hops.items())


def lightgbm_table_contributions(model: Any, db: Any, test: pd.DataFrame, entity_key: str) -> dict[str, float]:
    """What :func:`global_contributions` computes for a LightGBM model, from the run's test table (the
    rows of its ``predictions.parquet``, in order), on one LightGBM thread: ``relgraph train`` makes it
    while its GNN still trains on the other core, so the report does not wait for it afterwards."""
    frame = test[[entity_key, "timestamp"]].reset_index(drop=True)
    return _shap_tables(model, db, _shap_rows(frame), threads=1)


def _shap_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The test rows TreeSHAP explains: a seeded sample of :data:`MAX_SHAP_ROWS`, all when fewer."""
    return frame.sample(MAX_SHAP_ROWS, random_state=0).reset_index(drop=True) if len(frame) > MAX_SHAP_ROWS else frame


def _shap_tables(model: Any, db: Any, frame: pd.DataFrame, threads: int | None = None) -> dict[str, float]:
    """Mean |TreeSHAP contribution| per table over ``frame``'s rows (features summed per table first);
    ``threads``: LightGBM's (default: every core this process may use)."""
    from relgraph.runs.explain.tabular import feature_sources

    _, _, builder, meta = lightgbm_parts(model)
    if not len(frame):
        return {}
    from relgraph.baselines.lightgbm_search import usable_cores

    threads = threads or usable_cores()  # the run's other work is done: every core (LightGBM keeps one pool per process)
    x = builder.transform(db, frame, meta["entity_key"])
    n = x.shape[1]
    contrib = np.zeros((len(x), n))
    for rows, boosters, iterations in model.boosters_for(frame["timestamp"]):  # the boosters that scored each row
        parts = []
        for b, it in zip(boosters, iterations):
            raw = np.asarray(b.predict(x[rows], num_iteration=it, pred_contrib=True, num_threads=threads))
            # Multiclass: [rows, classes * (features + 1)]; a feature's size is its |contribution| summed over classes.
            parts.append(np.abs(raw.reshape(int(rows.sum()), -1, n + 1)[:, :, :n]).sum(axis=1)
                         if meta["task_type"] == "multiclass" else raw[:, :n])
        contrib[rows] = np.mean(parts, axis=0)
    sources = feature_sources(builder, db)
    table_of = np.array([sources[c].table if c in sources else meta["entity_table"] for c in x.columns])
    out = {}
    for t in np.unique(table_of):
        out[str(t)] = float(np.abs(contrib[:, table_of == t].sum(axis=1)).mean())
    return out
