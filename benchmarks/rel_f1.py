"""rel-f1 benchmark: driver-dnf / driver-top3 (test AUROC) and driver-position (test MAE).

Runs each requested model family on RelBench's task tables (``../shared/datasets/rel-f1/tasks``)
over the database in ``../shared/datasets/rel-f1``, for several seeds, and prints mean ± std
beside the reference figures, with feature time, wall time and peak memory.

    .venv/bin/python benchmarks/rel_f1.py --models trivial,rules,lightgbm --seeds 0 1 2

One function per model family (``run_<family>``), registered in ``FAMILIES``; each returns
``{task: [test metric per seed]}`` plus notes. Add a family by writing its function.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import relgraph  # noqa: E402
from relgraph.baselines.aggregates import clear_feature_cache  # noqa: E402
from relgraph.baselines.lightgbm_model import LightGBMPredictor  # noqa: E402
from relgraph.baselines.rules import RecentFormRule, TrivialBaseline  # noqa: E402
from relgraph.database import Database  # noqa: E402
from relgraph.metrics import binary_metrics, regression_metrics  # noqa: E402
from relgraph.query.task import TaskTables  # noqa: E402

DATA = REPO / ".." / "shared" / "datasets" / "rel-f1"

#: task -> (label column in RelBench's tables, task type, metric)
TASKS: dict[str, tuple[str, str, str]] = {
    "driver-dnf": ("did_not_finish", "binary", "auroc"),
    "driver-top3": ("qualifying", "binary", "auroc"),
    "driver-position": ("position", "regression", "mae"),
}

#: How long after its time a task's label is known (RelBench's timedelta: the label window).
HORIZONS = {"driver-dnf": "30D", "driver-top3": "30D", "driver-position": "60D"}

#: Reference figures (test; AUROC in %, MAE): see ../shared/datasets/rel-f1/README.md.
REFERENCES: list[tuple[str, tuple[float, float, float]]] = [
    ("RelBench LightGBM (paper)", (68.56, 73.92, 4.170)),
    ("RelBench GNN (paper)", (72.62, 75.54, 4.022)),
    ("Featuretools + LightGBM (measured)", (82.2, 92.2, 2.81)),
    ("recent-form rules (measured)", (83.1, 92.6, 2.75)),
]


def load_task(name: str) -> TaskTables:
    """RelBench's task tables as TaskTables (columns driverId, timestamp, label)."""
    label, task_type, _ = TASKS[name]
    frames = {}
    for split in ("train", "val", "test"):
        df = pd.read_parquet(DATA / "tasks" / name / f"{split}.parquet")
        frames[split] = df.rename(columns={"date": "timestamp", label: "label"})[["driverId", "timestamp", "label"]]
    return TaskTables(task_type, "drivers", "driverId", frames["train"], frames["val"], frames["test"],
                      extra={"label_horizon": HORIZONS[name]})


def test_metric(task_name: str, y: np.ndarray, pred: np.ndarray) -> float:
    """AUROC in % for the binary tasks, MAE for driver-position."""
    _, task_type, metric = TASKS[task_name]
    if task_type == "binary":
        return 100.0 * binary_metrics(y, pred)[metric]
    return regression_metrics(y, pred)[metric]


Result = dict[str, Any]


def run_trivial(db: Database, tasks: dict[str, TaskTables], seeds: list[int]) -> Result:
    """Entity historical rate (binary) / training median (regression): deterministic, one run."""
    scores, notes = {}, {}
    for name, task in tasks.items():
        model = TrivialBaseline().fit(db, task)
        scores[name] = [test_metric(name, task.test["label"].to_numpy(), model.predict(db, task.test))]
    return {"scores": scores, "notes": notes}


def run_rules(db: Database, tasks: dict[str, TaskTables], seeds: list[int]) -> Result:
    """The single last-n feature chosen on validation: deterministic, one run."""
    scores, notes = {}, {}
    for name, task in tasks.items():
        model = RecentFormRule().fit(db, task)
        scores[name] = [test_metric(name, task.test["label"].to_numpy(), model.predict(db, task.test))]
        notes[name] = f"{model.state_['feature']} ({model.state_['mapping']['kind']})"
    return {"scores": scores, "notes": notes}


#: The README's one-line rules, written with our feature names.
README_RULES = {
    "driver-dnf": "results.statusId.eq1.share.last10",  # share of finishes: low = DNF-prone
    "driver-top3": "qualifying.position.mean.last5",
    "driver-position": "results.positionOrder.mean.last10",
}


def run_readme_rules(db: Database, tasks: dict[str, TaskTables], seeds: list[int]) -> Result:
    """The README's rules with the feature fixed (validation picks only sign / missing fill)."""
    scores, notes = {}, {}
    for name, task in tasks.items():
        model = RecentFormRule(candidates=f"^{re.escape(README_RULES[name])}$").fit(db, task)
        scores[name] = [test_metric(name, task.test["label"].to_numpy(), model.predict(db, task.test))]
        notes[name] = f"{model.state_['feature']} ({model.state_['mapping']['kind']}, missing -> {model.state_['fill']:.3g})"
    return {"scores": scores, "notes": notes}


def run_lightgbm(db: Database, tasks: dict[str, TaskTables], seeds: list[int], current_parents: str = "auto") -> Result:
    """Temporal features + LightGBM tuned on validation, one fit per seed.

    Feature time is measured on the first seed with a cold feature cache: building the
    features of train, val and test for every task (when an earlier family fitted the model
    already, its fit's feature time). ``current_parents``: as
    ``LightGBMPredictor``'s (the driver's current constructor; "auto": chosen on validation).
    """
    clear_feature_cache()
    scores: dict[str, list[float]] = {name: [] for name in tasks}
    notes: dict[str, str] = {}
    feature_seconds = 0.0
    for i, seed in enumerate(seeds):
        for name, task in tasks.items():
            model = fit_lightgbm(db, task, seed, current_parents)
            started = time.perf_counter()
            x_test = model.builder.transform(db, task.test, task.entity_key)
            if i == 0:
                feature_seconds += model.meta_["feature_seconds"] + time.perf_counter() - started
            pred = model.predict(db, task.test)
            scores[name].append(test_metric(name, task.test["label"].to_numpy(), pred))
            choice = model.meta_.get("current_parents")
            if choice:
                used = "used" if choice["used"] else "not used"
                vals = f" (first config val {choice['val_without']:.4f} without, {choice['val_with']:.4f} with)" if choice["val_with"] is not None else ""
                notes[f"{name} seed {seed} current {', '.join(choice['parents'])}"] = used + vals
            if i == 0:
                top = ", ".join(model.feature_importance_.index[:3])
                notes[name] = f"{len(x_test.columns)} features; val {model.meta_['val_metric']} {model.meta_['val_value']:.4f}; top: {top}"
    return {"scores": scores, "notes": notes, "feature_seconds": feature_seconds}


def run_lightgbm_context(db: Database, tasks: dict[str, TaskTables], seeds: list[int]) -> Result:
    """LightGBM with the driver's own earlier labels (known by the prediction time: label window
    ended) as extra features (``LightGBMPredictor(label_context=True)``), one fit per seed; notes:
    validation metric and the context columns' gain ranks."""
    scores: dict[str, list[float]] = {name: [] for name in tasks}
    notes: dict[str, str] = {}
    for i, seed in enumerate(seeds):
        for name, task in tasks.items():
            model = LightGBMPredictor(seed=seed, label_context=True).fit(db, task)
            scores[name].append(test_metric(name, task.test["label"].to_numpy(), model.predict(db, task.test)))
            if i == 0:
                ranks = list(model.feature_importance_.index)
                ctx = [f"{f.split('.', 1)[1]} #{r + 1}" for r, f in enumerate(ranks) if f.startswith("label_ctx.")]
                notes[name] = f"val {model.meta_['val_metric']} {model.meta_['val_value']:.4f}; context gain ranks of {len(ranks)}: {', '.join(ctx)}"
    return {"scores": scores, "notes": notes}


#: GNN hyper-parameter overrides (``--gnn-config '{"hidden": 128}'``), applied to every task.
GNN_OVERRIDES: dict[str, Any] = {}


#: Models fitted in this run, by (kind, task, seed): the families share them, so
#: ``--models lightgbm,gnn,blend,auto`` fits each once (fits are deterministic per seed).
_FITTED: dict[tuple[str, int, int], Any] = {}


def fit_gnn(db: Database, task: TaskTables, seed: int) -> Any:
    """A fitted GNNPredictor: default config + ``GNN_OVERRIDES``, ``seed`` (shared, ``_FITTED``)."""
    from relgraph.gnn.predictor import GNNConfig, GNNPredictor

    key = ("gnn", id(task), seed)
    if key not in _FITTED:
        config = dataclasses.replace(GNNConfig(seed=seed), **GNN_OVERRIDES)
        _FITTED[key] = GNNPredictor(config, quiet=True).fit(db, task)
    return _FITTED[key]


def fit_lightgbm(db: Database, task: TaskTables, seed: int, current_parents: str = "auto") -> LightGBMPredictor:
    """A fitted LightGBMPredictor (``seed``, ``current_parents``; shared, ``_FITTED``)."""
    key = (f"lightgbm-{current_parents}", id(task), seed)
    if key not in _FITTED:
        _FITTED[key] = LightGBMPredictor(seed=seed, current_parents=current_parents).fit(db, task)
    return _FITTED[key]


def run_gnn(db: Database, tasks: dict[str, TaskTables], seeds: list[int]) -> Result:
    """The temporal GNN (relgraph.gnn.GNNPredictor, default config + ``GNN_OVERRIDES``), one fit per seed.

    Notes give the validation metric, epochs run, fit time and the sampling share of training
    time (seconds in the temporal sampler / seconds of training epochs) on the first seed.
    """
    from relgraph.graph import build_graph

    build_graph(db)  # warm the graph cache once, so fit times compare across seeds
    scores: dict[str, list[float]] = {name: [] for name in tasks}
    val: dict[str, list[float]] = {name: [] for name in tasks}
    split: dict[str, dict[str, list[float]]] = {name: {"seen": [], "unseen": []} for name in tasks}
    notes: dict[str, str] = {}
    for i, seed in enumerate(seeds):
        for name, task in tasks.items():
            started = time.perf_counter()
            model = fit_gnn(db, task, seed)
            fit_seconds = time.perf_counter() - started
            y, pred = task.test["label"].to_numpy(), model.predict(db, task.test)
            scores[name].append(test_metric(name, y, pred))
            primary = "val_mae" if TASKS[name][2] == "mae" else "val_auroc"
            best = max(model.history_, key=lambda h: -h[primary] if primary == "val_mae" else h[primary])
            val[name].append(best[primary] * (1.0 if primary == "val_mae" else 100.0))
            # Test rows whose entity never appears in the training table (issue 27: untrained embeddings).
            unseen = ~task_rows_seen(task)
            for part, rows in (("seen", ~unseen), ("unseen", unseen)):
                split[name][part].append(test_metric(name, y[rows], pred[rows]))
            if i == 0:
                notes[name] = (
                    f"best val {primary[4:]} {best[primary]:.4f} at epoch {best['epoch']}/{len(model.history_)}; "
                    f"fit {fit_seconds:.1f} s; sampling {100 * model.timing_['sample_share']:.1f}% of epoch time"
                )
    for name in tasks:
        unseen_rows = int((~task_rows_seen(tasks[name])).sum())
        notes[name] += (f"; val {_cell(val[name], name)}; test seen {_cell(split[name]['seen'], name)}, "
                        f"unseen ({unseen_rows} of {len(tasks[name].test)} rows) {_cell(split[name]['unseen'], name)}")
    return {"scores": scores, "notes": notes, "val": val, "split": split}


def task_rows_seen(task: TaskTables) -> np.ndarray:
    """bool per test row: its entity appears in the training table."""
    return task.test[task.entity_key].isin(task.train[task.entity_key]).to_numpy()


def run_blend(db: Database, tasks: dict[str, TaskTables], seeds: list[int]) -> Result:
    """The GNN and LightGBM of each seed (as in ``run_gnn`` / ``run_lightgbm``) and their blend,
    the GNN weight chosen on validation (``relgraph.runs.blend``); scores are the blend's, the
    notes give the members' test scores and the weights."""
    from relgraph.runs.blend import BlendPredictor

    scores: dict[str, list[float]] = {name: [] for name in tasks}
    members: dict[str, dict[str, list[float]]] = {name: {"gnn": [], "lightgbm": []} for name in tasks}
    weights: dict[str, list[float]] = {name: [] for name in tasks}
    for seed in seeds:
        for name, task in tasks.items():
            fitted = {"gnn": fit_gnn(db, task, seed), "lightgbm": fit_lightgbm(db, task, seed)}
            blend = BlendPredictor.from_fitted(fitted, db, task)
            y = task.test["label"].to_numpy()
            test_preds = {kind: model.predict(db, task.test) for kind, model in fitted.items()}
            scores[name].append(test_metric(name, y, blend.combine(test_preds)))
            for kind, pred in test_preds.items():
                members[name][kind].append(test_metric(name, y, pred))
            weights[name].append(blend.weight_)
    notes = {
        name: f"GNN weights {weights[name]}; members: "
        + ", ".join(f"{kind} {_cell(values, name)}" for kind, values in members[name].items())
        for name in tasks
    }
    return {"scores": scores, "notes": notes}


def run_auto(db: Database, tasks: dict[str, TaskTables], seeds: list[int]) -> Result:
    """What ``relgraph train --model auto`` keeps, per seed: LightGBM, unless the GNN or the blend
    beats it on validation beyond resampling noise (``relgraph.runs.selection``). Scores are auto's; the
    notes give the members, the blend, what was kept, and paired bootstraps (test rows, 1000
    resamples, ``stack.paired_bootstrap``) of auto, the blend and the GNN against LightGBM on
    seed-averaged test predictions."""
    from stack import paired_bootstrap

    from relgraph.runs.blend import BlendPredictor
    from relgraph.runs.selection import choose_on_validation

    scores: dict[str, list[float]] = {name: [] for name in tasks}
    notes: dict[str, str] = {}
    for name, task in tasks.items():
        metric = TASKS[name][2]
        y_val, y = task.val["label"].to_numpy(), task.test["label"].to_numpy()
        test_preds: dict[str, list[np.ndarray]] = {k: [] for k in ("gnn", "lightgbm", "blend", "auto")}
        member_scores: dict[str, list[float]] = {k: [] for k in ("gnn", "lightgbm", "blend")}
        kept: list[str] = []
        for seed in seeds:
            fitted = {"gnn": fit_gnn(db, task, seed), "lightgbm": fit_lightgbm(db, task, seed)}
            val = {kind: model.predict(db, task.val) for kind, model in fitted.items()}
            test = {kind: model.predict(db, task.test) for kind, model in fitted.items()}
            blend = BlendPredictor(fitted).fit_predictions(task, val)
            val["blend"], test["blend"] = blend.combine(val), blend.combine(test)
            selection = choose_on_validation(task.task_type, y_val, val, reference="lightgbm")
            chosen = selection.chosen
            kept.append(f"{chosen} (ahead: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in selection.evidence.items()) + ")")
            for kind in member_scores:
                member_scores[kind].append(test_metric(name, y, test[kind]))
                test_preds[kind].append(np.asarray(test[kind], dtype=float))
            test_preds["auto"].append(np.asarray(test[chosen], dtype=float))
            scores[name].append(test_metric(name, y, test[chosen]))
        base = np.mean(test_preds["lightgbm"], axis=0)
        scale, digits = (1.0, 4) if metric == "mae" else (100.0, 2)
        intervals = []
        for kind in ("auto", "blend", "gnn"):
            b = paired_bootstrap(y.astype(float), np.mean(test_preds[kind], axis=0), base, metric)
            intervals.append(f"{kind} - lightgbm {scale * b['diff']:+.{digits}f} "
                             f"[{scale * b['lo']:+.{digits}f}, {scale * b['hi']:+.{digits}f}]")
        notes[name] = ("kept " + ", ".join(kept) + "; " + ", ".join(f"{k} {_cell(v, name)}" for k, v in member_scores.items())
                       + "; paired bootstrap on seed-averaged test predictions (95%): " + "; ".join(intervals))
    return {"scores": scores, "notes": notes}


def run_hybrid(db: Database, tasks: dict[str, TaskTables], seeds: list[int]) -> Result:
    """LightGBM over the temporal features plus out-of-fold GNN scores (``relgraph.runs.hybrid``,
    3 entity folds, fold GNNs as in ``run_gnn``), one fit per seed; notes: validation metric,
    the fold-mean GNN column's own test score and the GNN column's gain rank."""
    from relgraph.gnn.predictor import GNNConfig
    from relgraph.runs.hybrid import HybridPredictor

    scores: dict[str, list[float]] = {name: [] for name in tasks}
    notes: dict[str, str] = {}
    for i, seed in enumerate(seeds):
        for name, task in tasks.items():
            started = time.perf_counter()
            config = dataclasses.replace(GNNConfig(seed=seed), **GNN_OVERRIDES)
            model = HybridPredictor(seed=seed, gnn_config=config).fit(db, task)
            y = task.test["label"].to_numpy()
            scores[name].append(test_metric(name, y, model.predict(db, task.test)))
            if i == 0:
                column = next(iter(model.gnn_features(db, task.test).values()))
                gnn_alone = 1.0 / (1.0 + np.exp(-column)) if TASKS[name][1] == "binary" else column
                ranks = list(model.feature_importance_.index)
                gnn_rank = next((r for r, f in enumerate(ranks) if f.startswith("gnn_")), -1) + 1
                meta = model.lightgbm_.meta_
                notes[name] = (f"val {meta['val_metric']} {meta['val_value']:.4f}; fold-mean GNN alone "
                               f"{test_metric(name, y, gnn_alone):.3f}; GNN column gain rank {gnn_rank}/{len(ranks)}; "
                               f"fit {time.perf_counter() - started:.0f} s")
    return {"scores": scores, "notes": notes}


FAMILIES: dict[str, Callable[[Database, dict[str, TaskTables], list[int]], Result]] = {
    "trivial": run_trivial,
    "rules": run_rules,
    "readme-rules": run_readme_rules,
    "lightgbm": run_lightgbm,
    "lightgbm-no-current": functools.partial(run_lightgbm, current_parents="off"),
    "lightgbm-context": run_lightgbm_context,
    "gnn": run_gnn,
    "blend": run_blend,
    "hybrid": run_hybrid,
    "auto": run_auto,
}


def _cell(values: list[float], task_name: str) -> str:
    digits = 3 if TASKS[task_name][2] == "mae" else 2
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def print_table(results: dict[str, Result], seeds: list[int]) -> None:
    names = list(TASKS)
    header = f"{'model':<38}" + "".join(f"{n + ' ' + TASKS[n][2].upper():>24}" for n in names)
    print(header)
    print("-" * len(header))
    for label, figures in REFERENCES:
        print(f"{label:<38}" + "".join(f"{v:>24}" for v in figures))
    for family, res in results.items():
        runs = max(len(v) for v in res["scores"].values())
        label = f"{family} (ours, {runs} run{'s' if runs > 1 else ''})"
        print(f"{label:<38}" + "".join(f"{_cell(res['scores'][n], n) if n in res['scores'] else '-':>24}" for n in names))
    print()
    for family, res in results.items():
        extra = f"feature time {res['feature_seconds']:.1f} s; " if "feature_seconds" in res else ""
        print(f"{family}: {extra}wall {res['seconds']:.1f} s")
        for name, note in res["notes"].items():
            print(f"  {name}: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="trivial,rules,lightgbm", help=f"comma-separated families: {','.join(FAMILIES)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--gnn-config", default="{}", help='GNN overrides as JSON, e.g. \'{"hidden": 128}\'')
    args = parser.parse_args(argv)
    GNN_OVERRIDES.update(json.loads(args.gnn_config))
    started = time.perf_counter()
    families = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in families if m not in FAMILIES]
    if unknown:
        parser.error(f"unknown model families {unknown}; choose from {list(FAMILIES)}")
    db = relgraph.connect(DATA)
    tasks = {name: load_task(name) for name in args.tasks.split(",")}
    results: dict[str, Result] = {}
    for family in families:
        t0 = time.perf_counter()
        results[family] = FAMILIES[family](db, tasks, args.seeds)
        results[family]["seconds"] = time.perf_counter() - t0
    print_table(results, args.seeds)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = time.perf_counter() - started
    print(f"\ntotal wall time {total:.1f} s; CPU {time.process_time():.1f} s; peak memory {peak_mib:.0f} MiB; seeds {args.seeds}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "total_seconds": total, "peak_mib": peak_mib}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
