"""Three plane-level tasks on nycflights13, trained end to end through the CLI, against baselines.

Data: ``../shared/datasets/nycflights13`` (every NYC departure of 2013: 336,776 flights, 3,322
planes, 105 destinations), five plain CSV files without key metadata. relgraph infers their keys, references by role
(origin / dest), the composite weather reference, the row times and ``NA`` as missing;
``--schema-file`` declares them with ``benchmarks/nycflights13.toml`` instead (same tasks).

Tasks (one PQL line each, 7- and 30-day windows, validation from 2013-10-01, test from 2013-11-15,
one-window steps):

- delay: will a plane have an arrival delay over 30 minutes in the next 7 days (binary, AUROC),
  among planes that fly in those 7 days;
- mean-delay: its mean arrival delay over the next 7 days (regression, MAE), same planes;
- destinations: the destinations it will fly to in the next 30 days (ranking, MAP@5).

Each (task, seed) is one ``relgraph train SOURCE --query ... --model auto`` process; its
``metrics.json`` gives the GNN, LightGBM, their blend and the trivial baseline (ranking: the
popularity and own-history rankers). The one-line rule (binary / regression) is relgraph's
``RecentFormRule``: the best single recent-history feature chosen on validation (e.g. the plane's
share of late arrivals over the past 30 days). Wall time: the whole ``train`` process.

    .venv/bin/python benchmarks/nycflights.py [--seeds 0 1 2] [--tasks delay ...] [--schema-file] [--json F]
    .venv/bin/python benchmarks/nycflights.py --merge seed0.json seeds12.json   # one table
    .venv/bin/python benchmarks/nycflights.py --models gnn --gnn-config '{"unseen_static": true}' ...

``--models gnn`` (or ``lightgbm``, ``blend``, ``hybrid``) is the ``relgraph train --model`` of every run
(default ``auto``: the GNN, LightGBM and their blend); the kept model's validation metrics are stored
beside its test metrics. ``--gnn-config`` (JSON) is merged into the run's ``GNNConfig`` after the
command line's GNN settings (``relgraph train`` has no such option: the run goes through
:data:`CHILD`, which wraps ``relgraph.cli.train.gnn_config_from_args``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "datasets" / "nycflights13"
SCHEMA = Path(__file__).resolve().with_name("nycflights13.toml")
VAL_CUTOFF, TEST_CUTOFF = "2013-10-01", "2013-11-15"
FLIES = "COUNT(flights.*, 0, 7, days) > 0"
TASKS = {
    "delay": "PREDICT COUNT(flights.* WHERE flights.arr_delay > 30, 0, 7, days) > 0 "
    f"FOR EACH planes.tailnum ASSUMING {FLIES}",
    "mean-delay": f"PREDICT AVG(flights.arr_delay, 0, 7, days) FOR EACH planes.tailnum ASSUMING {FLIES}",
    "destinations": "PREDICT LIST_DISTINCT(flights.dest, 0, 30, days) RANK TOP 5 FOR EACH planes.tailnum",
}
PRIMARY = {"binary": ("auroc", 100.0, "AUROC ×100"), "regression": ("mae", 1.0, "MAE (min)"),
           "ranking": ("map@k", 100.0, "MAP@5 ×100")}
MODELS = ("gnn", "lightgbm", "blend", "trivial", "rule", "history")
# Modest GNN settings for a shared 2-core CPU: large batches, few epochs.
TRAIN_ARGS = ["--epochs", "4", "--batch-size", "1024", "--threads", "1"]
#: ``relgraph train`` with the GNN settings of ``sys.argv[1]`` (JSON) merged into the command line's.
CHILD = ("import dataclasses, json, sys; import relgraph.cli.train as t; from relgraph.cli.main import main; "
         "flags = json.loads(sys.argv[1]); base = t.gnn_config_from_args; "
         "t.gnn_config_from_args = lambda args: dataclasses.replace(base(args), **flags); "
         "sys.exit(main(sys.argv[2:]))")


def train_cli(source: Path, schema: Path | None, query: str, seed: int, out: Path, model: str = "auto",
              gnn_flags: dict[str, Any] | None = None) -> tuple[dict[str, Any], float]:
    """One ``relgraph train --model MODEL`` process (``gnn_flags``: through :data:`CHILD`): its
    metrics.json and wall seconds."""
    entry = ["-c", CHILD, json.dumps(gnn_flags)] if gnn_flags else ["-m", "relgraph.cli.main"]
    command = [sys.executable, *entry, "train", str(source), "--query", query,
               "--model", model, "--seed", str(seed), "--out", str(out), "--quiet",
               "--val-cutoff", VAL_CUTOFF, "--test-cutoff", TEST_CUTOFF, *TRAIN_ARGS]
    if schema is not None:
        command += ["--schema", str(schema)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return json.loads((out / "metrics.json").read_text()), seconds


def rule_baseline(source: Path, schema: Path | None, query: str) -> tuple[dict[str, Any], float]:
    """The one-line recent-form rule on the same task tables (binary / regression; ranking: no
    metrics here), and the task's type and rows per split."""
    import relgraph
    from relgraph.baselines import RecentFormRule
    from relgraph.baselines.rules import WINDOW_PATTERN
    from relgraph.metrics import task_metrics
    from relgraph.query import build_task

    db = relgraph.connect(source, schema=schema)
    task = build_task(db, query, val_cutoff=VAL_CUTOFF, test_cutoff=TEST_CUTOFF)
    rows = {s: len(task.split(s)) for s in ("train", "val", "test")}
    if task.task_type == "ranking":  # the run's own "history" ranker is the rule
        return {"test": {}, "rows": rows, "task_type": task.task_type}, 0.0
    started = time.perf_counter()
    rule = RecentFormRule(candidates=WINDOW_PATTERN).fit(db, task)
    pred = rule.predict(db, task.test)
    seconds = time.perf_counter() - started
    test = task_metrics(task.task_type, task.test["label"], pred, None, 0.5, task.k)
    return {"test": test, "rows": rows, "task_type": task.task_type}, seconds


def run(tasks: list[str], seeds: list[int], data: Path, schema: Path | None, model: str = "auto",
        gnn_flags: dict[str, Any] | None = None) -> dict[str, Any]:
    source = data
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="relgraph-nycflights-runs-") as runs_dir:
        for name in tasks:
            query = TASKS[name]
            models: dict[str, list[dict[str, Any]]] = {m: [] for m in MODELS}
            results[name] = {"query": query, "models": models}
            try:
                rule = rule_baseline(source, schema, query)
            except Exception as err:  # a task that cannot be built is reported, not fatal
                print(f"{name}: failed: {err}", flush=True)
                continue
            metrics, seconds = rule
            results[name].update(task_type=metrics["task_type"], rows=metrics["rows"])
            if metrics["test"]:
                models["rule"].append({"seed": None, "seconds": seconds, "test": metrics["test"]})
            print(f"{name}: {metrics['task_type']}, rows {metrics['rows']}", flush=True)
            for seed in seeds:
                try:
                    metrics, seconds = train_cli(source, schema, query, seed, Path(runs_dir) / f"{name}-{seed}",
                                                 model, gnn_flags)
                except RuntimeError as err:
                    print(f"  seed {seed}: relgraph train failed: {err}", flush=True)
                    continue
                results[name]["task_type"] = metrics["task"]
                per_model = {metrics["model"]: metrics["test"], **{k: v["test"] for k, v in metrics["baselines"].items()}}
                per_val = {metrics["model"]: metrics["val"],
                           **{k: v.get("val", {}) for k, v in metrics["baselines"].items()}}
                for kind, test in per_model.items():
                    # The run's own "rule" is the one fitted above (same candidates): recorded once.
                    if kind in models and kind != "rule" and (kind in ("gnn", "lightgbm", "blend") or seed == seeds[0]):
                        models[kind].append({"seed": seed, "seconds": seconds, "test": test, "val": per_val[kind]})
                metric = PRIMARY[metrics["task"]][0]
                shown = ", ".join(f"{k} {v.get(metric, float('nan')):.4f}" for k, v in per_model.items())
                print(f"  seed {seed}: kept {metrics['model']}; test {metric}: {shown} ({seconds:.0f} s)", flush=True)
    return results


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Results of runs over different seeds as one (the rule, fitted once, from the first run)."""
    out: dict[str, Any] = json.loads(json.dumps(parts[0]))
    for part in parts[1:]:
        for name, res in part.items():
            if name not in out:
                out[name] = res
                continue
            for kind, runs in res["models"].items():
                if kind in ("gnn", "lightgbm", "blend"):
                    out[name]["models"][kind] += runs
    return out


def summary_table(results: dict[str, Any]) -> str:
    lines = ["| task | metric (test) | " + " | ".join(MODELS) + " | wall s / train run |",
             "|---|---|" + "---|" * (len(MODELS) + 1)]
    for name, res in results.items():
        if "task_type" not in res:
            continue
        metric, scale, label = PRIMARY[res["task_type"]]
        digits = 2 if metric == "mae" or scale > 1 else 4
        cells = []
        for kind in MODELS:
            values = np.array([r["test"][metric] for r in res["models"][kind] if metric in r["test"]]) * scale
            spread = f" ± {values.std():.{digits}f}" if len(values) > 1 else ""
            cells.append(f"{values.mean():.{digits}f}{spread}" if len(values) else "n/a")
        walls = [r["seconds"] for r in res["models"]["gnn"]]
        wall = f"{np.mean(walls):.0f}" if walls else "n/a"
        lines.append(f"| {name} | {label} | " + " | ".join(cells) + f" | {wall} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--data", type=Path, default=DATA, help="the nycflights13 CSV folder")
    parser.add_argument("--schema-file", action="store_true",
                        help=f"declare keys and times with {SCHEMA.name} instead of relgraph's inference")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--models", default="auto", choices=("auto", "gnn", "lightgbm", "blend", "hybrid"),
                        help="relgraph train --model of every run (default auto)")
    parser.add_argument("--gnn-config", default="{}", help='GNN settings as JSON, e.g. \'{"unseen_static": true}\'')
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="print the table of earlier --json results (runs of other seeds) together; train nothing")
    args = parser.parse_args()
    if args.merge:
        print(summary_table(merge([json.loads(p.read_text()) for p in args.merge])))
        return
    if not args.data.is_dir():
        raise SystemExit(f"nycflights13 not found at {args.data}")
    schema = SCHEMA if args.schema_file else None
    started = time.perf_counter()
    results = run(args.tasks, args.seeds, args.data, schema, args.models, json.loads(args.gnn_config))
    print()
    print(f"nycflights13, val from {VAL_CUTOFF}, test from {TEST_CUTOFF}; seeds {args.seeds}; "
          f"schema {'inferred only' if schema is None else SCHEMA.name}; mean ± std over seeds")
    print(summary_table(results))
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
