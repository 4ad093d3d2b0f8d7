"""LightGBMPredictor.fit one configuration at a time and ``n_jobs`` at a time, in one process, back to
back (issue #25): the stages' wall and CPU seconds of each, and whether the models are identical.

The raw Ergast f1 driver-DNF task of ``train_profile.py``; the features are built once (the first
fit pays them; the feature cache serves the others), so the figures compare the search and the
refit under the same machine load. Order: ``--jobs`` as given (default 1, 2, 1).

On a loaded machine the cores are not idle, so the wall seconds of ``n_jobs`` > 1 say little; each
fit also prints every configuration's and refit's own CPU seconds (``time.thread_time`` of its
thread) and the wall time those jobs would take on ``n_jobs`` idle cores (in the pool's start
order, each to the first core free), an estimate that leaves out what two boosters cost each other (memory bandwidth).

    .venv/bin/python benchmarks/lightgbm_jobs.py --jobs 1 2 1

Since #25 session 12 ``LightGBMPredictor.fit`` trains in a ``lightgbm_search.JobPool``, not
``in_parallel``: the per-job "pools" lines stay empty; the stages and the identity check still hold.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from train_profile import DATA, F1_DNF  # noqa: E402

import relgraph  # noqa: E402
from relgraph.baselines import lightgbm_model  # noqa: E402
from relgraph.baselines.lightgbm_model import LightGBMPredictor  # noqa: E402
from relgraph.baselines.lightgbm_search import in_parallel  # noqa: E402
from relgraph.query import build_task  # noqa: E402
from relgraph.stages import StageRecorder  # noqa: E402

STAGES = ("features", "current parents", "lightgbm configurations", "refit")

#: Per call of ``in_parallel``: (workers, each job's CPU seconds on its own thread, in the pool's start order).
POOLS: list[tuple[int, list[float]]] = []


def timed_in_parallel(jobs: list[Callable[[], Any]], workers: int, done: Callable[[], None],
                      first: list[int] | None = None) -> list[Any]:
    seconds = [0.0] * len(jobs)

    def timed(i: int) -> Any:
        started = time.thread_time()
        try:
            return jobs[i]()
        finally:
            seconds[i] = time.thread_time() - started

    results = in_parallel([lambda i=i: timed(i) for i in range(len(jobs))], workers, done, first)
    order = list(first or []) + [i for i in range(len(jobs)) if i not in (first or [])]
    POOLS.append((workers, [seconds[i] for i in order]))  # in the order the pool starts them
    return results


def makespan(seconds: list[float], cores: int) -> float:
    """Wall seconds of ``seconds``' jobs on ``cores`` idle cores, each job to the first core free."""
    free = [0.0] * max(1, cores)
    for job in seconds:
        free[free.index(min(free))] += job
    return max(free)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 1])
    args = parser.parse_args()
    db = relgraph.connect(str(DATA / "f1"))
    task = build_task(db, F1_DNF)
    lightgbm_model.in_parallel = timed_in_parallel  # type: ignore[assignment]
    reference: dict[str, Any] | None = None
    for n_jobs in args.jobs:
        load = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
        POOLS.clear()
        with StageRecorder() as recorder:
            model = LightGBMPredictor(n_jobs=n_jobs).fit(db, task)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        timings = recorder.summary()
        result = {"meta": {k: v for k, v in model.meta_.items() if not k.endswith("_seconds")},
                  "trees": [b.model_to_string() for b in model.boosters_ + model.refit_boosters_],
                  "test": model.predict(db, task.test)}
        same = "" if reference is None else (
            "identical" if reference["meta"] == result["meta"] and reference["trees"] == result["trees"]
            and np.array_equal(reference["test"], result["test"]) else "DIFFERENT")
        reference = reference or result
        stages = ", ".join(f"{name} {timings[name]['seconds']:.1f}/{timings[name]['cpu_seconds']:.1f}"
                           for name in STAGES if name in timings)
        print(f"n_jobs={n_jobs}: fit {wall:.1f} s wall, {cpu:.1f} s CPU (load {load:.2f} -> {os.getloadavg()[0]:.2f}); "
              f"wall/CPU s: {stages} {same}", flush=True)
        cpu_jobs = [round(sum(seconds), 1) for _, seconds in POOLS]
        idle = [round(makespan(seconds, max(2, n_jobs)), 1) for _, seconds in POOLS]
        print(f"  pools (jobs' CPU s): {[[round(x, 1) for x in seconds] for _, seconds in POOLS]}; one at a time "
              f"{cpu_jobs} s, on {max(2, n_jobs)} idle cores {idle} s", flush=True)


if __name__ == "__main__":
    main()
