"""RelBench's rel-stack tasks on a small Stack Exchange site, stated in PQL: GNN vs LightGBM vs rules.

Data: ``../shared/datasets/stack-bicycles-meta`` (bicycles.meta.stackexchange.com, 2010-2023,
2.5k users, 1.4k posts, 2.4k comments), read straight from the XML dump folder (the reader declares the dump-time snapshot
columns, Score, ViewCount, Reputation, ..., which would leak the future: they are not features).

Tasks (180-day windows: the site gets ~25-60 posts a year lately, so RelBench's 91 days leave
too few positives; validation from 2017-01-01, test from 2019-07-01, RelBench-style steps of
one window):

- user-engagement (binary, AUROC): will a user post or comment in the next 180 days, for users
  who posted or commented in the past 365 days (votes carry no user id in this dump);
- user-badge (binary, AUROC): will a user receive a badge in the next 180 days, for users with a
  post, comment or badge in the past 365 days;
- user-post-comment (ranking, MAP@10): which existing posts will a user comment on in the next
  180 days (users who comment then);
- post-votes (regression, MAE): votes a post receives in the next 180 days, for posts that got a
  vote in the past 365 days.

Models: the GNN (``GNNPredictor`` with SAGE / sum aggregation, ``RankingGNNPredictor``), LightGBM over automated temporal
features of every table (``LightGBMPredictor`` with ``TemporalFeatureBuilder(depth=2)`` / ``LightGBMRanker`` over
candidates), lightgbm-entity: the same LightGBM over the entity table's own columns only
(``TemporalFeatureBuilder(depth=0)``, RelBench's published LightGBM setting; binary and regression
tasks; text columns are not features here, so on Users it sees AccountId and the account's age
only, where RelBench also embeds DisplayName / Location / AboutMe), the trivial baseline (entity's past positive rate / median / popularity) and the best simple
rule (recent-form rule; ranking: the user's own past posts, then popularity). Learned models: mean ±
std over seeds.

Significance (binary and regression tasks): a paired bootstrap over test rows (1000 resamples,
fixed seed) of the primary metric's difference between the GNN and each LightGBM, each model's
test predictions averaged over seeds; printed as ``gnn - lightgbm: +x.xx [lo, hi] (95% CI)``
(AUROC ×100; MAE: negative favours the GNN) and stored under ``"bootstrap"`` in ``--json``.

    .venv/bin/python benchmarks/stack.py [--seeds 0 1 2] [--tasks user-badge ...] [--models gnn,lightgbm]
        [--gnn-config '{"unseen_static": true}']

``--models`` fits only the named families (``blend`` and ``auto`` need ``gnn`` and ``lightgbm``);
``--gnn-config`` is merged into every task's ``GNNConfig`` after the task's own ``GNN_OVERRIDES``
(ranking tasks: into ``RankingGNNConfig``), as ``benchmarks/rel_f1.py`` does.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import relgraph
from relgraph.baselines import LightGBMPredictor, RecentFormRule, TrivialBaseline
from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.baselines.ranking import HistoryRanker, LightGBMRanker, PopularityRanker
from relgraph.baselines.rules import WINDOW_PATTERN
from relgraph.gnn.predictor import GNNConfig, GNNPredictor
from relgraph.gnn.ranking import RankingGNNConfig, RankingGNNPredictor
from relgraph.metrics import task_metrics
from relgraph.query import build_task
from relgraph.query.interactions import InteractionLog, RankingSpec
from relgraph.query.task import TaskTables
from relgraph.runs.blend import MEMBERS, BlendPredictor
from relgraph.runs.hybrid import HybridPredictor
from relgraph.runs.selection import bootstrap_scores, choose_on_validation, resample_counts
from relgraph.schema.times import to_seconds

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "datasets" / "stack-bicycles-meta"
VAL_CUTOFF, TEST_CUTOFF = "2017-01-01", "2019-07-01"
ACTIVE = "COUNT(Posts.*, -365, 0, days) > 0 OR COUNT(Comments.*, -365, 0, days) > 0"
TASKS = {
    "user-engagement": "PREDICT (COUNT(Posts.*, 0, 180, days) > 0 OR COUNT(Comments.*, 0, 180, days) > 0) "
    f"FOR EACH Users.Id WHERE {ACTIVE}",
    "user-badge": f"PREDICT COUNT(Badges.*, 0, 180, days) > 0 FOR EACH Users.Id WHERE {ACTIVE} "
    "OR COUNT(Badges.*, -365, 0, days) > 0",
    "user-post-comment": "PREDICT LIST_DISTINCT(Comments.PostId, 0, 180, days) RANK TOP 10 FOR EACH Users.Id",
    "post-votes": "PREDICT COUNT(Votes.*, 0, 180, days) FOR EACH Posts.Id WHERE COUNT(Votes.*, -365, 0, days) > 0",
}
PRIMARY = {"binary": ("auroc", 100.0), "regression": ("mae", 1.0), "ranking": ("map@k", 100.0)}
MODELS = ("gnn", "lightgbm", "blend", "auto", "hybrid", "lightgbm-entity", "trivial", "rule")
SEEDED = ("gnn", "lightgbm", "blend", "auto", "hybrid", "lightgbm-entity")  # fitted once per seed; the others once
MODEL_NOTES = {
    "lightgbm": "automated temporal features over every table (depth 2)",
    "blend": "the same seed's GNN and LightGBM averaged, the GNN weight chosen on validation (seconds: both fits)",
    "auto": "what relgraph train --model auto keeps: LightGBM unless the GNN or the blend beats it on validation "
            "in 95 % of bootstrap resamples (relgraph.runs.selection)",
    "hybrid": "LightGBM over the same features plus out-of-fold GNN scores (3 entity folds, GNN as gnn)",
    "lightgbm-entity": "the entity table's own columns only (RelBench's LightGBM setting)",
}
# Pairs compared by the paired bootstrap (first minus second).
COMPARISONS = (("gnn", "lightgbm"), ("blend", "lightgbm"), ("auto", "lightgbm"), ("hybrid", "lightgbm"), ("gnn", "lightgbm-entity"))
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 1000, 0
# Per-task GNN settings picked by validation AUROC (3 seeds): user-engagement has 654 training rows,
# so heavier dropout and weight decay keep it from overfitting in the first epochs.
GNN_OVERRIDES: dict[str, dict[str, Any]] = {"user-engagement": {"dropout": 0.5, "weight_decay": 5e-2}}
#: ``--gnn-config`` JSON: GNN settings for every task, applied after ``GNN_OVERRIDES``.
GNN_FLAGS: dict[str, Any] = {}


def make_model(kind: str, task: TaskTables, seed: int, cache: str, name: str = "") -> Any:
    """An untrained model of ``kind`` for ``task`` (one thread each: the machine is shared);
    ``name`` (a ``TASKS`` key) selects the task's ``GNN_OVERRIDES``."""
    if task.task_type == "ranking":
        return {
            "gnn": lambda: RankingGNNPredictor(RankingGNNConfig(seed=seed, graph_cache_dir=cache, **GNN_FLAGS),
                                               quiet=True),
            "lightgbm": lambda: LightGBMRanker(seed=seed, num_threads=1),
            "trivial": PopularityRanker,
            "rule": lambda: HistoryRanker("frequency"),
        }[kind]()
    gnn_config = GNNConfig(seed=seed, num_threads=1, graph_cache_dir=cache, epochs=10, max_steps_per_epoch=20,
                           conv="sage", aggr="sum", **{**GNN_OVERRIDES.get(name, {}), **GNN_FLAGS})
    return {
        # SAGE with sum aggregation keeps activity counts (mean / attention average them away);
        # it scored higher than the attention default on user-badge and user-engagement (seed 0).
        "gnn": lambda: GNNPredictor(gnn_config, quiet=True),
        "hybrid": lambda: HybridPredictor(seed=seed, gnn_config=gnn_config,
                                          lightgbm={"num_threads": 1}),
        "lightgbm": lambda: LightGBMPredictor(seed=seed, num_threads=1),
        "lightgbm-entity": lambda: LightGBMPredictor(seed=seed, num_threads=1,
                                                     builder=TemporalFeatureBuilder(depth=0)),
        "trivial": TrivialBaseline,
        "rule": lambda: RecentFormRule(candidates=WINDOW_PATTERN),
    }[kind]()


def evaluate(model: Any, db: Any, task: TaskTables,
             preds: dict[str, Any] | None = None) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Metrics of a fitted model on the val and test splits, and its predictions per split (kept
    for the blend and the bootstrap: binary [n] P(1), regression [n] values, ranking lists of ids);
    ``preds`` given: scored as they are, nothing predicted."""
    out, kept = {}, {}
    for split in ("val", "test"):
        frame = task.split(split)
        pred = preds[split] if preds is not None else model.predict(db, frame)
        if task.task_type == "ranking":
            pred = [[i for i in row if i is not None] for row in pred]
        out[split] = task_metrics(task.task_type, frame["label"], pred, None, 0.5, task.k)
        kept[split] = pred
    return out, kept


def paired_bootstrap(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, metric: str,
                     resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, float]:
    """Paired bootstrap over test rows of ``metric(pred_a) - metric(pred_b)``.

    Both models are scored on the same resampled rows, so the interval reflects only how the
    difference varies with the test set (not the models' seeds).

    Args:
        y: [n] labels (binary 0/1 or regression targets); pred_a, pred_b: [n] predictions.
        metric: ``"auroc"`` or ``"mae"``.
    Returns:
        ``diff`` (on the full test set), ``lo`` / ``hi`` (2.5 / 97.5 percentiles over resamples),
        ``resamples``, ``seed``.
    """
    task_type, sign = {"auroc": ("binary", 1.0), "mae": ("regression", -1.0)}.get(metric, (None, 0.0))
    if task_type is None:
        raise ValueError(f"no bootstrap for metric {metric!r}")
    counts = resample_counts(len(y), resamples, seed)  # row 0: the test set itself
    # bootstrap_scores is higher-is-better (MAE negated): back to the metric's own sign
    diffs = sign * (bootstrap_scores(task_type, y, pred_a, counts) - bootstrap_scores(task_type, y, pred_b, counts))
    lo, hi = np.nanpercentile(diffs[1:], [2.5, 97.5])
    return {"diff": float(diffs[0]), "lo": float(lo), "hi": float(hi), "resamples": resamples, "seed": seed}


def recommendable_share(db: Any, task: TaskTables) -> float:
    """Share of test label pairs whose target already exists at t (the most recall any ranker can reach)."""
    log = InteractionLog(db, RankingSpec.from_query(db, task.query or ""))
    labels = log.labels_as_positions(task.test["label"])
    times = np.repeat(to_seconds(task.test["timestamp"]), [len(p) for p in labels])
    positions = np.concatenate(labels)
    assert log.target_time is not None
    return float((log.target_time[positions] <= times).mean()) if len(positions) else float("nan")


def run(tasks: list[str], seeds: list[int], data: Path = DATA, models: tuple[str, ...] = MODELS) -> dict[str, Any]:
    db = relgraph.connect(data)
    cache = tempfile.mkdtemp(prefix="relgraph-stack-")
    results: dict[str, Any] = {}
    for name in tasks:
        started = time.perf_counter()
        task = build_task(db, TASKS[name], val_cutoff=VAL_CUTOFF, test_cutoff=TEST_CUTOFF)
        rows = {s: len(task.split(s)) for s in ("train", "val", "test")}
        print(f"{name}: {task.task_type}, rows {rows}, built in {time.perf_counter() - started:.1f} s", flush=True)
        results[name] = {"task_type": task.task_type, "rows": rows, "query": TASKS[name], "models": {}}
        if task.task_type == "ranking":
            results[name]["recommendable_share"] = share = recommendable_share(db, task)
            print(f"  {share:.1%} of test (user, post) label pairs name a post that exists at t", flush=True)
        metric = PRIMARY[task.task_type][0]
        paired = task.task_type in ("binary", "regression")  # tasks with a paired bootstrap
        test_preds: dict[str, list[np.ndarray]] = {}  # model -> per-seed test predictions
        members: dict[int, dict[str, Any]] = {}  # seed -> fitted GNN and LightGBM
        # (kind, seed) -> (fit+predict seconds, predictions per split)
        fitted: dict[tuple[str, int], tuple[float, dict[str, Any]]] = {}
        for kind in (m for m in MODELS if m in models):
            runs = []
            if kind in ("lightgbm-entity", "blend", "auto", "hybrid") and task.task_type == "ranking":
                results[name]["models"][kind] = runs  # shown as n/a
                continue
            for seed in seeds if kind in SEEDED else seeds[:1]:
                t0 = time.perf_counter()
                try:
                    if kind == "blend":  # this seed's members, from their predictions: nothing refitted or re-predicted
                        member_preds = {k: fitted[(k, seed)][1] for k in MEMBERS}
                        model = BlendPredictor(members[seed]).fit_predictions(
                            task, {k: p["val"] for k, p in member_preds.items()})
                        blended = {s: model.combine({k: p[s] for k, p in member_preds.items()}) for s in ("val", "test")}
                        metrics, preds = evaluate(model, db, task, blended)
                    elif kind == "auto":  # chosen among this seed's members and blend, from their predictions
                        candidates = {k: fitted[(k, seed)][1] for k in (*MEMBERS, "blend")}
                        chosen = choose_on_validation(task.task_type, task.val["label"].to_numpy(),
                                                      {k: p["val"] for k, p in candidates.items()}, "lightgbm").chosen
                        metrics, preds = evaluate(None, db, task, candidates[chosen])
                        metrics["kept"] = chosen
                    else:
                        model = make_model(kind, task, seed, cache, name).fit(db, task)
                        metrics, preds = evaluate(model, db, task)
                        if kind in MEMBERS:
                            members.setdefault(seed, {})[kind] = model
                except Exception as err:  # a baseline that cannot apply is reported, not fatal
                    print(f"  {kind} seed {seed}: failed: {err}", flush=True)
                    break
                seconds = time.perf_counter() - t0
                fitted[(kind, seed)] = (seconds, preds)
                if kind in ("blend", "auto"):
                    seconds += sum(fitted[(k, seed)][0] for k in MEMBERS)
                if kind == "blend":
                    metrics["weight"] = model.weight_
                runs.append({"seed": seed, "seconds": seconds, **metrics})
                if paired:
                    test_preds.setdefault(kind, []).append(np.asarray(preds["test"], dtype=float))
                weight = f", GNN weight {metrics['weight']:.1f}" if "weight" in metrics else ""
                weight += f", kept {metrics['kept']}" if "kept" in metrics else ""
                print(f"  {kind} seed {seed}: val {metric} {metrics['val'][metric]:.4f}, "
                      f"test {metric} {metrics['test'][metric]:.4f} ({seconds:.1f} s{weight})", flush=True)
            results[name]["models"][kind] = runs
        if paired:
            results[name]["bootstrap"] = compare(task, test_preds, metric)
    return results


def compare(task: TaskTables, test_preds: dict[str, list[np.ndarray]], metric: str) -> dict[str, dict[str, float]]:
    """Paired bootstrap of each pair in :data:`COMPARISONS` on seed-averaged test predictions, printed."""
    y = task.test["label"].to_numpy(dtype=float)
    scale = PRIMARY[task.task_type][1]
    digits = 4 if metric == "mae" else 2
    out = {}
    for a, b in COMPARISONS:
        if a not in test_preds or b not in test_preds:
            continue
        res = paired_bootstrap(y, np.mean(test_preds[a], axis=0), np.mean(test_preds[b], axis=0), metric)
        out[f"{a} - {b}"] = res
        d, lo, hi = (res[k] * scale for k in ("diff", "lo", "hi"))
        print(f"  {a} - {b}: {d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}] (95% CI)", flush=True)
    return out


def summary_table(results: dict[str, Any]) -> str:
    lines = ["| task | metric (test) | " + " | ".join(MODELS) + " |", "|---|---|" + "---|" * len(MODELS)]
    for name, res in results.items():
        metric, scale = PRIMARY[res["task_type"]]
        cells = []
        for kind in MODELS:
            runs = res["models"].get(kind) or []
            if not runs:
                cells.append("n/a")
                continue
            values = np.array([r["test"][metric] for r in runs]) * scale
            secs = np.mean([r["seconds"] for r in runs])
            digits = 4 if metric == "mae" else 2
            spread = f" ± {values.std():.{digits}f}" if len(values) > 1 else ""
            cells.append(f"{values.mean():.{digits}f}{spread} ({secs:.0f} s)")
        label = {"auroc": "AUROC ×100", "mae": "MAE", "map@k": "MAP@10 ×100"}[metric]
        lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated families (default all: {','.join(MODELS)}); "
                        "blend and auto need gnn and lightgbm")
    parser.add_argument("--gnn-config", default="{}", help='GNN settings as JSON, e.g. \'{"unseen_static": true}\'')
    parser.add_argument("--data", type=Path, default=DATA,
                        help="a Stack Exchange dump folder (default: the shared bicycles.meta dump); "
                        "the cutoffs and windows stay as set in this script")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"Stack Exchange dump not found at {args.data}")
    models = tuple(m for m in args.models.split(",") if m)
    unknown = set(models) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown --models {sorted(unknown)}; choose from {','.join(MODELS)}")
    if {"blend", "auto"} & set(models) and not {"gnn", "lightgbm"} <= set(models):
        raise SystemExit("--models blend / auto need gnn and lightgbm too")
    GNN_FLAGS.update(json.loads(args.gnn_config))
    started = time.perf_counter()
    results = run(args.tasks, args.seeds, args.data, models)
    print()
    print(f"rel-stack tasks on {args.data.name}, 180-day windows, val from {VAL_CUTOFF}, test from {TEST_CUTOFF}; "
          f"seeds {args.seeds}; GNN settings {GNN_FLAGS or 'default'}; mean ± std (mean fit+predict seconds)")
    print(summary_table(results))
    for kind, note in MODEL_NOTES.items():
        print(f"{kind}: {note}")
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
