"""``report.html``: one self-contained page per training run (plots embedded as base64 PNG).

Sections: task summary, label distribution over time, learning curves, ROC / PR curves
(binary), predicted vs actual (regression) or confusion matrix (multiclass), every model (with
``--model auto``: GNN, LightGBM and their blend, whose weight the task summary gives) beside
the trivial baseline and the one-line rule chosen on validation (ranking: the entity's own
history), each with its text, on validation and test, feature importance when a model has one, and
where the time went (seconds per stage, ``relgraph.stages``).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from relgraph.metrics import sklearn_metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the file-only Agg backend, imported on first use (half a second of
    start-up that only a report needs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@dataclass
class ModelRun:
    """What the report shows of one trained model."""

    name: str
    val: dict[str, float]
    test: dict[str, float]
    test_pred: np.ndarray | None = None
    val_pred: np.ndarray | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    feature_importance: pd.Series | None = None
    seconds: float | None = None
    #: One line saying what a baseline predicts (the rule's own text for ``rule``).
    text: str | None = None


def _png(fig: Figure) -> str:
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def label_over_time(task_type: str, splits: dict[str, pd.DataFrame]) -> str:
    """The label rate (binary), mean (regression) or row count per prediction time, per split, as an <img>."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3))
    for name, frame in splits.items():
        if not len(frame):
            continue
        if task_type in ("binary", "regression"):
            series = frame.groupby("timestamp")["label"].mean()
            ax.plot(series.index, series.to_numpy(), marker=".", label=name)
        else:
            series = frame.groupby("timestamp").size()
            ax.plot(series.index, series.to_numpy(), marker=".", label=name)
    ylabel = {"binary": "share of positive labels", "regression": "mean label"}.get(task_type, "rows")
    ax.set_ylabel(ylabel)
    ax.set_xlabel("prediction time")
    ax.legend()
    return _png(fig)


def _learning_curves(runs: list[ModelRun], primary: str) -> str:
    plt = pyplot()
    curves = [r for r in runs if r.history]
    if not curves:
        return "<p>No model here records per-epoch history.</p>"
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(9, 3))
    for run in curves:
        epochs = [h["epoch"] for h in run.history]
        ax_loss.plot(epochs, [h.get("train_loss", np.nan) for h in run.history], marker=".", label=run.name)
        ax_val.plot(epochs, [h.get(f"val_{primary}", np.nan) for h in run.history], marker=".", label=run.name)
    ax_loss.set_title("training loss")
    ax_val.set_title(f"validation {primary}")
    for ax in (ax_loss, ax_val):
        ax.set_xlabel("epoch")
        ax.legend()
    return _png(fig)


def _outcome_plots(task_type: str, y_true: pd.Series, runs: list[ModelRun], classes: list[Any]) -> str:
    plt = pyplot()
    skm = sklearn_metrics()
    scored = [r for r in runs if r.test_pred is not None and len(r.test_pred) == len(y_true)]
    if not scored or not len(y_true):
        return "<p>No test predictions to plot.</p>"
    if task_type == "binary":
        y = y_true.astype(int).to_numpy()
        if len(np.unique(y)) < 2:
            return "<p>The test split holds one class only: no ROC / PR curve.</p>"
        fig, (roc, pr) = plt.subplots(1, 2, figsize=(9, 3.5))
        for run in scored:
            fpr, tpr, _ = skm.roc_curve(y, run.test_pred)
            roc.plot(fpr, tpr, label=f"{run.name} ({skm.auc(fpr, tpr):.3f})")
            prec, rec, _ = skm.precision_recall_curve(y, run.test_pred)
            pr.plot(rec, prec, label=run.name)
        roc.plot([0, 1], [0, 1], "k:", lw=0.8)
        roc.set(title="ROC (test)", xlabel="false positive rate", ylabel="true positive rate")
        pr.axhline(y.mean(), color="k", ls=":", lw=0.8)
        pr.set(title="precision-recall (test)", xlabel="recall", ylabel="precision")
        roc.legend()
        pr.legend()
        return _png(fig)
    if task_type == "regression":
        fig, axes = plt.subplots(1, len(scored), figsize=(4 * len(scored), 3.5), squeeze=False)
        y = y_true.astype(float).to_numpy()
        lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
        for ax, run in zip(axes[0], scored):
            ax.scatter(y, run.test_pred, s=6, alpha=0.4)
            ax.plot([lo, hi], [lo, hi], "k:", lw=0.8)
            ax.set(title=f"{run.name}: predicted vs actual (test)", xlabel="actual", ylabel="predicted")
        return _png(fig)
    if task_type == "multiclass":
        fig, axes = plt.subplots(1, len(scored), figsize=(4 * len(scored), 3.5), squeeze=False)
        for ax, run in zip(axes[0], scored):
            pred = np.asarray(classes)[np.asarray(run.test_pred).argmax(axis=1)]
            labels = list(classes)
            matrix = skm.confusion_matrix(y_true.astype(str), pred.astype(str), labels=[str(c) for c in labels])
            ax.imshow(matrix, cmap="Blues")
            ax.set(title=f"{run.name}: confusion (test)", xlabel="predicted", ylabel="actual")
            ticks = range(len(labels)) if len(labels) <= 20 else []
            ax.set_xticks(list(ticks), [str(labels[i]) for i in ticks], rotation=90)
            ax.set_yticks(list(ticks), [str(labels[i]) for i in ticks])
        return _png(fig)
    return ""


def _importance(runs: list[ModelRun]) -> str:
    plt = pyplot()
    parts = []
    for run in runs:
        if run.feature_importance is None or not len(run.feature_importance):
            continue
        top = run.feature_importance.sort_values(ascending=False).head(25)[::-1]
        fig, ax = plt.subplots(figsize=(7, 0.25 * len(top) + 1))
        ax.barh([str(i) for i in top.index], top.to_numpy())
        ax.set_title(f"{run.name}: feature importance (top {len(top)})")
        parts.append(_png(fig))
    return "".join(parts)


def _time_spent(timings: dict[str, dict[str, Any]] | None) -> str:
    """One horizontal bar per stage (its own seconds, longest first), up to the report itself;
    stages that ran beside the run's own (the GNN's while LightGBM trained) in a second colour."""
    plt = pyplot()
    if not timings:
        return "<p>No stage timings recorded.</p>"
    spent = sorted(((name, float(t["seconds"]), t.get("rows"), int(t.get("calls", 1)), t.get("beside"))
                    for name, t in timings.items()), key=lambda item: -item[1])
    total = sum(seconds for _, seconds, _, _, lane in spent if lane is None)
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(spent) + 1))
    labels = [name + (f" (x{calls})" if calls > 1 else "") + (f" [beside: {lane}]" if lane else "")
              for name, _, _, calls, lane in spent][::-1]
    seconds = [item[1] for item in spent][::-1]
    ax.barh(labels, seconds, color=["tab:orange" if item[4] else "tab:blue" for item in spent][::-1])
    for y, value in enumerate(seconds):
        ax.text(value, y, f" {value:.1f} s", va="center", fontsize=8)
    ax.set_xlabel("seconds")
    ax.set_title(f"where the time went: {total:.1f} s before this report"
                 + ("\n(orange: ran beside the other stages)" if any(item[4] for item in spent) else ""))
    ax.set_xlim(0, max(seconds) * 1.2 or 1.0)
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{sec:.1f}</td><td>{timings[name].get('cpu_seconds', 0.0):.1f}</td>"
                   f"<td>{'' if rows is None else f'{rows:,}'}</td><td>{calls}</td><td>{html.escape(lane or '')}</td>"
                   f"<td>{timings[name].get('peak_gib', float('nan')):.2f}</td></tr>"
                   for name, sec, rows, calls, lane in spent)
    table = (f"<table><tr><th>stage</th><th>seconds</th><th>CPU seconds (all threads)</th><th>rows</th><th>times run</th>"
             f"<th>beside the run's stages</th><th>process peak memory by its end, GiB</th></tr>{rows}</table>")
    return _png(fig) + table


def _metric_table(runs: list[ModelRun], chosen: str) -> str:
    names = sorted({k for r in runs for split in (r.val, r.test) for k, v in split.items() if k != "threshold"})
    head = "".join(f"<th>val {html.escape(n)}</th>" for n in names) + "".join(
        f"<th>test {html.escape(n)}</th>" for n in names
    )
    rows = []
    for run in runs:
        cells = "".join(f"<td>{run.val.get(n, float('nan')):.4f}</td>" for n in names) + "".join(
            f"<td>{run.test.get(n, float('nan')):.4f}</td>" for n in names
        )
        mark = " (kept)" if run.name == chosen else ""
        secs = f"{run.seconds:.1f}" if run.seconds is not None else ""
        rows.append(f"<tr><td>{html.escape(run.name)}{mark}</td>{cells}<td>{secs}</td></tr>")
    texts = "".join(f"<li><b>{html.escape(r.name)}</b>: {html.escape(r.text)}</li>" for r in runs if r.text)
    notes = f"<p>Baselines (never kept as the model):</p><ul>{texts}</ul>" if texts else ""
    return f"<table><tr><th>model</th>{head}<th>fit seconds</th></tr>{''.join(rows)}</table>{notes}"


def _explanations(run_dir: Path, db: Any = None, lightgbm_tables: dict[str, float] | None = None) -> str:
    """The explanations section (relgraph.runs.explain.report), imported here lazily: it reads the run
    folder this report completes, and never fails the report. (Not on a thread beside the plots: that
    made the report slower, both being mostly Python under one interpreter lock.)"""
    from relgraph.runs.explain.report import explanation_section

    return explanation_section(run_dir, db, lightgbm_tables)


def write_report(
    path: Path,
    summary: dict[str, Any],
    splits: dict[str, pd.DataFrame],
    runs: list[ModelRun],
    chosen: str,
    primary: str,
    classes: list[Any] | None = None,
    timings: dict[str, dict[str, Any]] | None = None,
    db: Any = None,
    lightgbm_tables: dict[str, float] | None = None,
) -> None:
    """Write the self-contained HTML report to ``path``.

    Args:
        summary: key -> value rows for the task summary (query, task type, entity, cutoffs, rows).
        splits: ``train`` / ``val`` / ``test`` frames with ``timestamp`` and ``label``.
        runs: every model trained plus the baselines (trivial, rule; ranking: history), each with
            val/test metrics and, for baselines, a one-line text.
        chosen: name of the model kept.
        primary: the primary metric's name.
        timings: stage -> ``{"seconds", "rows", "calls"}`` (``StageRecorder.summary``), for the
            "where the time went" section.
        db: the run's database, for the explanations (default: reopened from the run's source).
        lightgbm_tables: the LightGBM part of the explanations, already computed
            (``relgraph.runs.explain.report.lightgbm_table_contributions``).
    """
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()
    )
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>relgraph report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
img{{max-width:100%}}</style></head><body>
<h1>relgraph training report</h1>
<h2>Task</h2><table>{rows}</table>
<h2>Models (primary metric: {html.escape(primary)})</h2>{_metric_table(runs, chosen)}
<h2>Label distribution over time</h2>{label_over_time(str(summary.get("task type", "")), splits)}
<h2>Learning curves</h2>{_learning_curves(runs, primary)}
<h2>Test outcomes</h2>{_outcome_plots(str(summary.get("task type", "")), splits["test"]["label"], runs, classes or [])}
<h2>Feature importance</h2>{_importance(runs) or "<p>No model in this run reports feature importance.</p>"}
<h2>Explanations</h2>{_explanations(Path(path).parent, db, lightgbm_tables)}
<h2>Where the time went</h2>{_time_spent(timings)}
</body></html>"""
    Path(path).write_text(body, encoding="utf-8")
