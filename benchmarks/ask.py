"""``relgraph ask`` against ``relgraph train --model auto``: seconds to an answer and test quality.

Per task (one PQL line on a real database):

- cold: one ``relgraph ask SOURCE "PQL" --at CUTOFF --ids <100 ids> --json`` process, imports and
  connecting included (wall seconds);
- warm: ``relgraph.ask(db, query, at=CUTOFF, ids=<100 ids>)`` in this process with the database
  loaded, the first answer to this query here (backtest included); "again": the same query for
  another 100 entities (what a running ``relgraph serve`` answers next);
- backtest: the answer's own backtest (the same procedure one label window before CUTOFF);
- test: the answer's procedure at the test cutoff (:func:`relgraph.runs.ask.fit_answer`: labels
  known by then, the feature builder fitted at its backtest's time) scored on the task's test rows, beside ``train --model auto``'s test
  figure (from benchmarks/README.md, with its command, or run here with ``--train``) and the
  trivial baseline the backtest reports.

    nice -n 5 .venv/bin/python benchmarks/ask.py [--tasks driver-dnf churn ...] [--train] [--json F]

Metrics: AUROC ×100 (binary), MAE (regression). Goals (issue 24): warm ≤ 3 s, cold ≤ 15 s, test
within 1.5 AUROC points (5 % MAE) of auto.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import relgraph  # noqa: E402
from relgraph.metrics import PRIMARY_METRIC, task_metrics  # noqa: E402
from relgraph.query import make_training_table, parse, split_timestamps, validate  # noqa: E402
from relgraph.runs.ask import ask, fit_answer  # noqa: E402
from relgraph.runs.tasks import prediction_rows  # noqa: E402

DATASETS = ROOT / ".." / "shared" / "datasets"
CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
STACK_ACTIVE = "COUNT(Posts.*, -365, 0, days) > 0 OR COUNT(Comments.*, -365, 0, days) > 0"


@dataclass
class Task:
    """A benchmark task: source, query, cutoffs, and ``train --model auto``'s recorded test figure."""

    source: str
    query: str
    val_cutoff: str | None
    test_cutoff: str | None
    auto: float | None  # test metric (AUROC ×100 or MAE)
    auto_seconds: float | None
    auto_note: str  # where the auto figure comes from


def _f1_query(name: str) -> str:
    return (DATASETS / "rel-f1" / "tasks" / name / "query.pql").read_text().strip()


TASKS: dict[str, Task] = {
    # rel-f1: benchmarks/README.md, "rel-f1, every family, 5 seeds" (auto, refitted LightGBM) and
    # the train --task-tables timings under it (top3 33 s, position 75 s; dnf not timed there).
    "driver-dnf": Task(str(DATASETS / "rel-f1"), "", "2005-01-01", "2010-01-01", 83.29, None,
                       "README rel-f1 5 seeds (task tables)"),
    "driver-top3": Task(str(DATASETS / "rel-f1"), "", "2005-01-01", "2010-01-01", 92.70, 33.0,
                        "README rel-f1 5 seeds; 33 s one run"),
    "driver-position": Task(str(DATASETS / "rel-f1"), "", "2005-01-01", "2010-01-01", 2.544, 75.0,
                            "README rel-f1 5 seeds; 75 s one run"),
    # The demo shop (make_demo_database(seed=0), full size); README records LightGBM's test AUROC only.
    "churn": Task("demo", CHURN, None, None, 71.19, 72.0, "README demo_churn: lightgbm (auto not recorded)"),
    # benchmarks/README.md, nycflights13 seed 0 (auto kept the blend; 851 s for two tasks).
    "plane-delay": Task(str(DATASETS / "nycflights13"),
                        "PREDICT COUNT(flights.* WHERE flights.arr_delay > 30, 0, 7, days) > 0 FOR EACH planes.tailnum "
                        "ASSUMING COUNT(flights.*, 0, 7, days) > 0", "2013-10-01", "2013-11-15", 67.53, None,
                        "README nycflights13 seed 0 (blend kept)"),
    # benchmarks/README.md, Stack Exchange 3 seeds.
    "user-badge": Task(str(DATASETS / "stack-bicycles-meta"),
                       f"PREDICT COUNT(Badges.*, 0, 180, days) > 0 FOR EACH Users.Id WHERE {STACK_ACTIVE} "
                       "OR COUNT(Badges.*, -365, 0, days) > 0", "2017-01-01", "2019-07-01", 92.59, None,
                       "README stack 3 seeds"),
}
for _name in ("driver-dnf", "driver-top3", "driver-position"):
    if (DATASETS / "rel-f1" / "tasks" / _name / "query.pql").exists():
        TASKS[_name].query = _f1_query(_name)

ASKED = 100


def _scaled(task_type: str, value: float) -> float:
    return 100.0 * value if task_type == "binary" else value


def _source(task: Task, folder: Path) -> str:
    if task.source != "demo":
        return task.source
    from relgraph.demo.generate import make_demo_database

    path = folder / "demo.db"
    if not path.exists():
        make_demo_database(path, seed=0)
    return f"sqlite:///{path}"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cold(source: str, query: str, at: str, ids: list[Any]) -> tuple[float, float, dict[str, Any]]:
    """One CLI process; (wall seconds, CPU seconds, its JSON answer)."""
    # --ids=...: an id may start with "-", which argparse would take for an option.
    command = [sys.executable, "-m", "relgraph.cli.main", "ask", source, query, "--at", at,
               "--ids=" + ",".join(str(i) for i in ids), "--json"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    started, cpu = time.perf_counter(), _child_cpu()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return seconds, _child_cpu() - cpu, json.loads(done.stdout)


def _train_auto(source: str, task: Task, folder: Path) -> tuple[float, float]:
    """One ``relgraph train --model auto`` process: (test metric, wall seconds)."""
    out = folder / "auto-run"
    command = [sys.executable, "-m", "relgraph.cli.main", "train", source, "--query", task.query, "--model", "auto",
               "--out", str(out), "--quiet"]
    if task.val_cutoff:
        command += ["--val-cutoff", task.val_cutoff, "--test-cutoff", str(task.test_cutoff)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    metric = PRIMARY_METRIC[metrics["task"]][0]
    return _scaled(metrics["task"], metrics["test"][metric]), seconds


def run_task(name: str, task: Task, folder: Path, train: bool) -> dict[str, Any]:
    source = _source(task, folder)
    db = relgraph.connect(source)
    parsed = parse(task.query)
    resolved = validate(parsed, db.schema)
    stamps = split_timestamps(db, parsed, task.val_cutoff, task.test_cutoff)["test"]
    at = task.test_cutoff or min(stamps).isoformat()
    rows = prediction_rows(db, task.query, resolved.entity_table, resolved.entity_key, pd.Timestamp(at))
    keys = rows[resolved.entity_key].tolist()
    first, second = keys[:ASKED], keys[ASKED:2 * ASKED] or keys[:ASKED]
    print(f"{name}: {len(keys):,} entities at {at}; cold CLI ...", flush=True)
    cold_s, cold_cpu, _ = _cold(source, task.query, at, first)
    import lightgbm  # noqa: F401  (imported, as in a running service)

    started, cpu = time.perf_counter(), time.process_time()
    answer = ask(db, task.query, at=at, ids=first)
    warm_s, warm_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    ask(db, task.query, at=at, ids=second)
    again_s, again_cpu = time.perf_counter() - started, time.process_time() - cpu
    test_rows = make_training_table(db, resolved, stamps)
    # The answer's procedure at the test cutoff (backtest, one feature pass, model), asked for the test rows.
    _, _, pred = fit_answer(db, parsed, pd.Timestamp(at), test_rows, None, 0, 1, with_backtest=True)
    metric = PRIMARY_METRIC[resolved.task_type][0]
    test = _scaled(resolved.task_type, task_metrics(resolved.task_type, test_rows["label"], pred)[metric])
    auto, auto_s, note = task.auto, task.auto_seconds, task.auto_note
    if train:
        auto, auto_s = _train_auto(source, task, folder)
        note = "train --model auto, run here"
    back = answer.attrs["backtest"] or {}
    out = {
        "task": name, "type": resolved.task_type, "metric": metric, "cold_s": cold_s, "cold_cpu": cold_cpu, "warm_s": warm_s,
        "warm_cpu": warm_cpu, "again_s": again_s, "again_cpu": again_cpu, "backtest": _scaled(resolved.task_type, back["value"]) if back.get("value") is not None else None,
        "trivial": _scaled(resolved.task_type, back["trivial"]) if back.get("trivial") is not None else None,
        "test": test, "test_rows": len(test_rows), "auto": auto, "auto_s": auto_s, "auto_note": note,
        "context": answer.attrs["context"]["text"], "backtest_text": back.get("text"),
    }
    print(f"  {json.dumps(out)}", flush=True)
    return out


def _gap(r: dict[str, Any]) -> str:
    if r["auto"] is None:
        return "n/a"
    if r["type"] == "binary":
        gap = r["test"] - r["auto"]
        return f"{gap:+.2f} pts" + ("" if gap >= -1.5 else " ✗")
    rel = (r["test"] - r["auto"]) / r["auto"]
    return f"{100 * rel:+.1f} %" + ("" if rel <= 0.05 else " ✗")


def table(results: list[dict[str, Any]]) -> str:
    head = ("| task | metric | cold s (CPU) | warm s (CPU) | again s (CPU) | backtest (trivial) | ask test | auto test (s) | "
            "ask − auto | test rows | context |")
    lines = [head, "|" + "---|" * 11]
    for r in results:
        unit = "AUROC ×100" if r["type"] == "binary" else r["metric"].upper()
        back = "n/a" if r["backtest"] is None else f"{r['backtest']:.2f} ({r['trivial']:.2f})"
        auto = "n/a" if r["auto"] is None else f"{r['auto']:.2f}" + (f" ({r['auto_s']:.0f} s)" if r["auto_s"] else "")
        lines.append(f"| {r['task']} | {unit} | {r['cold_s']:.1f} ({r['cold_cpu']:.1f}) | {r['warm_s']:.1f} ({r['warm_cpu']:.1f}) | "
                     f"{r['again_s']:.1f} ({r['again_cpu']:.1f}) | {back} | "
                     f"{r['test']:.2f} | {auto} | {_gap(r)} | {r['test_rows']:,} | {r['context']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--train", action="store_true", help="run relgraph train --model auto here (slow) "
                        "instead of the figures recorded in benchmarks/README.md")
    parser.add_argument("--json", type=Path, help="also write the results as JSON (after each task)")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON", help="print one table from earlier --json files")
    args = parser.parse_args()
    if args.merge:
        print(table([r for path in args.merge for r in json.loads(path.read_text())]))
        return
    folder = Path(tempfile.mkdtemp(prefix="relgraph-ask-bench-"))
    results = []
    for name in args.tasks:
        task = TASKS[name]
        if task.source != "demo" and not Path(task.source).exists():
            print(f"{name}: skipped, {task.source} is missing", flush=True)
            continue
        results.append(run_task(name, task, folder, args.train))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
