"""How cost grows: the demo shop at 1M / 10M / 50M event rows, stage by stage, per SQL engine.

    python benchmarks/scale.py [--sizes 1M,10M[,50M]] [--engines duckdb[,spark]] [--data DIR] [--json FILE]

Data: ``relgraph.demo.scale`` writes the shop as Parquet (chunk by chunk) into ``DIR/<size>``
once; later runs reuse it. Each stage runs in its own subprocess, so every peak RSS
(``getrusage`` maximum resident set) is that stage's alone:

* ``graph``: the memory-mapped graph built chunk by chunk from the Parquet folder
  (``graph.mmap.build_graph_mmap_parquet``). The schema is inferred first (``connect``, which
  reads the tables), the tables are then dropped and the peak is reset (``/proc/self/clear_refs``),
  so the reported peak is the build's own (with the interpreter's own ~0.3 GiB), printed beside the
  size of the arrays written (``output_gib``). Engine-independent: run once per size.
* ``labels``: the demo's churn query (``relgraph.query.build_task``) through the engine, after
  ``connect`` (connect time reported apart).
* ``features``: ``TemporalFeatureBuilder`` (depth 2) fitted on the training rows LightGBM uses (all of
  them up to ``baselines.sample.MAX_TRAIN_ROWS``, a seeded sample past it), through the engine.
* ``epoch1``: one GNN training epoch (``GNNPredictor``, ``graph="mmap"``, 2 threads; graph preparation
  not counted; with ``--max-steps`` the capped epoch's time is scaled to the full epoch's steps, the
  JSON keeps both; validation subsampled to 2,000 rows), then ``predict``: scores for 10k (entity, time) rows (fewer when the test split
  is smaller). ``epoch2``: the same with two
  training workers of one thread each (``workers=2``, DistributedDataParallel over gloo); the
  worker start-up is in ``fit_seconds``, not in the epoch.
* ``auto``: what a user waits for: one whole ``relgraph train FOLDER --query <churn> --model auto
  --graph auto`` (read and infer, task tables, LightGBM, GNN, blend, baselines, report) through the CLI,
  with the graph cache empty; the run's own stage timings (``metrics.json``) are kept in the JSON
  and its five longest stages printed.

Printed: one table per size and engine, then the growth exponent ``log(t2/t1) / log(n2/n1)`` of
every stage between consecutive sizes (1.0 = linear). The JSON file holds every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import math
import os
import resource
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STAGES = ("graph", "labels", "features", "epoch1", "epoch2", "auto")
PREDICT_ROWS = 10_000
#: Validation rows kept for the epoch stage (the epoch ends with a validation pass).
VAL_ROWS = 2_000


def _peak_gib() -> float:
    """This process's peak resident set (VmHWM, reset by ``clear_refs``) in GiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def scale_data(data: Path, size: str) -> Path:
    """The demo shop at ``size`` event rows in ``data / size``, written there unless a complete one is
    (its last table, support_tickets, written last)."""
    from relgraph.demo.scale import make_scale_database, parse_rows

    folder = data / size
    if not (folder / "support_tickets.parquet").exists():
        started = time.perf_counter()
        make_scale_database(folder, parse_rows(size))
        print(f"generated {size} in {time.perf_counter() - started:.1f} s -> {folder}", flush=True)
    return folder


def _connect(folder: str, engine: str) -> Any:
    import importlib.util

    import relgraph

    if engine == "spark" and importlib.util.find_spec("relgraph.engines.spark_engine") is None:
        raise RuntimeError("no Spark engine in this checkout yet (relgraph/engines/spark_engine.py, branch sparksql)")
    if engine == "duckdb":
        return relgraph.connect(folder)
    memory = os.environ.get("SCALE_SPARK_DRIVER_MEMORY")  # set by --spark-driver-memory
    conf = {"spark.driver.memory": memory} if memory else None
    return relgraph.connect(folder).with_engine(engine, master="local[2]", conf=conf)


# ---- stages (run in a subprocess each) ---------------------------------------------------------------
def stage_graph(folder: str, engine: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import pyarrow as pa

    import relgraph
    from relgraph.graph.mmap import build_graph_mmap_parquet

    started = time.perf_counter()
    schema = relgraph.connect(folder).schema
    infer_seconds = time.perf_counter() - started
    gc.collect()
    pa.default_memory_pool().release_unused()
    reset = _reset_peak()
    started = time.perf_counter()
    cache = work / "graph_stage"
    shutil.rmtree(cache, ignore_errors=True)  # built from cold every time
    graph = build_graph_mmap_parquet(folder, schema, cache_dir=cache)
    seconds = time.perf_counter() - started
    peak = _peak_gib()
    edges = sum(int(e.shape[1]) for e in graph.edge_index.values())
    # the arrays written (memory-mapped, so their pages count in the peak), beside the peak
    output = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 2**30
    return {"seconds": seconds, "peak_gib": peak, "peak_is_build_only": reset, "output_gib": output,
            "schema_seconds": infer_seconds, "nodes": sum(graph.num_nodes.values()), "edges": edges}


def _task(db: Any) -> Any:
    from relgraph.demo.train_step import CHURN_QUERY
    from relgraph.query import build_task

    return build_task(db, CHURN_QUERY)


def stage_labels(folder: str, engine: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    db = _connect(folder, engine)
    connect_seconds = time.perf_counter() - started
    started = time.perf_counter()
    task = _task(db)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_gib": _peak_gib(), "connect_seconds": connect_seconds,
            "train_rows": len(task.train), "val_rows": len(task.val), "test_rows": len(task.test)}


def stage_features(folder: str, engine: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from relgraph.baselines.aggregates import TemporalFeatureBuilder
    from relgraph.baselines.sample import MAX_TRAIN_ROWS, training_sample

    db = _connect(folder, engine)
    task = _task(db)
    # the rows LightGBM featurises: all training rows, or its seeded sample past MAX_TRAIN_ROWS
    frame = training_sample(task.train, MAX_TRAIN_ROWS)[[task.entity_key, "timestamp", "label"]]
    started = time.perf_counter()
    features = TemporalFeatureBuilder(depth=2).fit_transform(db, task.entity_table, frame, task.entity_key,
                                                             task.task_type)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_gib": _peak_gib(), "rows": len(frame), "train_rows": len(task.train),
            "features": int(features.shape[1])}


def _gnn_config(work: Path, args: argparse.Namespace, workers: int = 1) -> Any:
    from relgraph.gnn.predictor import GNNConfig

    return GNNConfig(epochs=1, graph="mmap", graph_cache_dir=str(work / "graph_cache"), hidden=32, fanouts=[6, 3],
                     batch_size=args.batch_size, max_steps_per_epoch=args.max_steps, patience=1, workers=workers,
                     num_threads=2 if workers == 1 else 1)


def _epoch(folder: str, engine: str, work: Path, args: argparse.Namespace, workers: int) -> dict[str, Any]:
    """One GNN epoch with ``workers`` training processes, then predict for 10k rows (worker 0's figures)."""
    import numpy as np

    from relgraph.gnn.predictor import GNNPredictor

    db = _connect(folder, engine)
    task = _task(db)
    if len(task.val) > VAL_ROWS:  # validation after the epoch is prediction, timed by the predict stage
        task = dataclasses.replace(task, val=task.val.sample(VAL_ROWS, random_state=0).reset_index(drop=True))
    predictor = GNNPredictor(_gnn_config(work, args, workers), quiet=True)
    started = time.perf_counter()
    predictor.fit(db, task)
    fit_seconds = time.perf_counter() - started
    timing = predictor.timing_
    rows = task.test if len(task.test) else task.train
    pick = np.random.default_rng(0).choice(len(rows), min(PREDICT_ROWS, len(rows)), replace=len(rows) < PREDICT_ROWS)
    frame = rows.iloc[pick][[task.entity_key, "timestamp"]].reset_index(drop=True)
    started = time.perf_counter()
    predictor.predict(db, frame)
    predict_seconds = time.perf_counter() - started
    full = int(np.ceil(len(task.train) / max(16, min(args.batch_size, int(np.ceil(len(task.train) / 20))))))
    steps = min(full, args.max_steps) if args.max_steps else full
    measured = float(timing.get("train_seconds", fit_seconds))
    # a capped epoch (--max-steps) is scaled to the full one; "measured_seconds" is what ran
    return {"seconds": measured * full / steps, "measured_seconds": measured, "peak_gib": _peak_gib(),
            "prepare_seconds": float(timing.get("prepare_seconds", 0.0)), "fit_seconds": fit_seconds,
            "sample_seconds": float(timing.get("sample_seconds", 0.0)), "steps": steps, "full_epoch_steps": full,
            "train_rows": len(task.train), "predict_seconds": predict_seconds, "predict_rows": len(frame),
            "workers": workers}


def stage_epoch1(folder: str, engine: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    return _epoch(folder, engine, work, args, workers=1)


def stage_epoch2(folder: str, engine: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    return _epoch(folder, engine, work, args, workers=2)


def stage_auto(folder: str, engine: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One whole ``relgraph train --model auto`` run, as a user starts it (the graph built anew)."""
    from relgraph.cli.main import main as cli
    from relgraph.demo.train_step import CHURN_QUERY

    folder, work = os.path.abspath(folder), work.resolve()
    out = work / "auto_run"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(work / ".relgraph_cache", ignore_errors=True)  # the graph built anew, as on a first run
    os.chdir(work)  # the default graph cache (.relgraph_cache) goes under work/
    started = time.perf_counter()
    code = cli(["train", folder, "--query", CHURN_QUERY, "--model", "auto", "--graph", "auto", "--engine", engine,
                "--out", str(out), "--quiet"])
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"relgraph train exited {code}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"seconds": seconds, "peak_gib": _peak_gib(), "model": metrics["model"], "test": metrics["test"],
            "timings": metrics.get("timings", {})}


def run_stage(args: argparse.Namespace) -> None:
    # SCALE_LOG_LEVEL=DEBUG: every Spark statement with its time (the failing one is logged anyway)
    logging.basicConfig(level="WARNING", format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("relgraph").setLevel(os.environ.get("SCALE_LOG_LEVEL", "WARNING"))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = globals()[f"stage_{args.stage}"](args.folder, args.engine, work, args)
    except Exception as err:  # reported as n/a with the reason, the other stages go on
        traceback.print_exc()
        result = {"na": f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"}
    print("RESULT " + json.dumps(result))


# ---- driver --------------------------------------------------------------------------------------------
def _subprocess(stage: str, folder: Path, engine: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--stage", stage, "--folder", str(folder), "--engine", engine,
               "--work", str(work), "--batch-size", str(args.batch_size)]
    if args.max_steps:
        command += ["--max-steps", str(args.max_steps)]
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if args.spark_driver_memory:
        env["SCALE_SPARK_DRIVER_MEMORY"] = args.spark_driver_memory
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=env)
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"na": f"exit {done.returncode}: {tail[0][:160]}", "wall_seconds": wall}
    result = json.loads(lines[-1][len("RESULT "):])
    result["wall_seconds"] = wall
    return result


def _fmt(result: dict[str, Any] | None, key: str = "seconds") -> str:
    if result is None:
        return "-"
    if "na" in result:
        return "n/a"
    return f"{result[key]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M", help="event rows per size, e.g. 1M,10M,50M")
    parser.add_argument("--engines", default="duckdb", help="duckdb and/or spark, comma separated")
    parser.add_argument("--data", default="/tmp/relgraph_scale", help="folder of the generated data and caches")
    parser.add_argument("--json", default="scale.json", help="where to write every figure")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"subset of {','.join(STAGES)}")
    parser.add_argument("--batch-size", type=int, default=512, help="GNN seeds per step")
    parser.add_argument("--max-steps", type=int, default=None, help="cap the epoch at this many steps")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per stage")
    parser.add_argument("--spark-driver-memory", help="Spark driver memory (e.g. 8g; default: a third of this machine's memory)")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="duckdb", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_stage(args)
        return

    from relgraph.demo.scale import parse_rows

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    report: dict[str, Any] = {"sizes": {}, "load": os.getloadavg(), "cpus": os.cpu_count()}
    for size in sizes:
        rows = parse_rows(size)
        folder = scale_data(Path(args.data), size)
        per_engine: dict[str, dict[str, Any]] = {}
        for e, engine in enumerate(engines):
            results: dict[str, Any] = {}
            for stage in stages:
                if stage in ("graph", "epoch1", "epoch2") and e > 0:
                    continue  # engine-independent: measured with the first engine
                work = Path(args.data) / f"work-{size}"
                results[stage] = _subprocess(stage, folder, engine, work, args)
                r = results[stage]
                print(f"  {size} {engine} {stage}: " + (f"n/a ({r['na']})" if "na" in r else
                      f"{r['seconds']:.1f} s, peak {r.get('peak_gib', float('nan')):.2f} GiB"), flush=True)
                if stage == "auto" and "timings" in r:
                    longest = sorted(r["timings"].items(), key=lambda item: -item[1]["seconds"])[:5]
                    print("    longest stages: " + ", ".join(f"{n} {t['seconds']:.0f} s" for n, t in longest), flush=True)
            per_engine[engine] = results
        report["sizes"][size] = {"rows": rows, "engines": per_engine}
        _print_size(size, per_engine)
    _print_growth(report, engines)
    Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {args.json}")


def _print_size(size: str, per_engine: dict[str, dict[str, Any]]) -> None:
    print(f"\n{size} event rows")
    print(f"{'engine':<8} {'graph s':>8} {'GiB':>6} {'out GiB':>8} {'labels s':>9} {'GiB':>6} {'feats s':>8} {'GiB':>6} "
          f"{'epoch1 s':>9} {'GiB':>6} {'epoch2 s':>9} {'pred10k s':>10} {'auto s':>8} {'GiB':>6}")
    first = next(iter(per_engine.values()))
    for engine, r in per_engine.items():
        g, e1, e2 = (r.get(k) or first.get(k) for k in ("graph", "epoch1", "epoch2"))
        print(f"{engine:<8} {_fmt(g):>8} {_fmt(g, 'peak_gib'):>6} {_fmt(g, 'output_gib'):>8} {_fmt(r.get('labels')):>9} "
              f"{_fmt(r.get('labels'), 'peak_gib'):>6} {_fmt(r.get('features')):>8} "
              f"{_fmt(r.get('features'), 'peak_gib'):>6} {_fmt(e1):>9} {_fmt(e1, 'peak_gib'):>6} {_fmt(e2):>9} "
              f"{_fmt(e1, 'predict_seconds'):>10} {_fmt(r.get('auto')):>8} {_fmt(r.get('auto'), 'peak_gib'):>6}")


def _print_growth(report: dict[str, Any], engines: list[str]) -> None:
    sizes = list(report["sizes"])
    if len(sizes) < 2:
        return
    print("\ngrowth exponent log(t2/t1)/log(n2/n1) (1.0 = linear)")
    for a, b in zip(sizes[:-1], sizes[1:]):
        ra, rb = report["sizes"][a], report["sizes"][b]
        ratio = math.log(rb["rows"] / ra["rows"])
        for engine in engines:
            parts = []
            for stage, key in (("graph", "seconds"), ("graph", "peak_gib"), ("labels", "seconds"),
                               ("features", "seconds"), ("epoch1", "seconds"), ("epoch1", "predict_seconds"),
                               ("epoch2", "seconds"), ("auto", "seconds"), ("auto", "peak_gib")):
                x = ra["engines"].get(engine, {}).get(stage) or ra["engines"][engines[0]].get(stage)
                y = rb["engines"].get(engine, {}).get(stage) or rb["engines"][engines[0]].get(stage)
                label = f"{stage}{'' if key == 'seconds' else '.' + key}"
                if x and y and "na" not in x and "na" not in y and x.get(key) and y.get(key):
                    exponent = math.log(y[key] / x[key]) / ratio
                    parts.append(f"{label} {exponent:.2f}")
                    report.setdefault("growth", {}).setdefault(f"{a}->{b}", {}).setdefault(engine, {})[label] = exponent
                else:
                    parts.append(f"{label} n/a")
            print(f"  {a} -> {b} {engine}: " + ", ".join(parts))


if __name__ == "__main__":
    main()
