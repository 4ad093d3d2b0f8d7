"""LightGBMPredictor.fit one configuration at a time and ``n_jobs`` at a time, in one process, back to
back (issue #25): the stages' wall and CPU seconds of each, and whether the models are identical.

The raw Ergast f1 driver-DNF task of ``train_profile.py``; the features are built once (the first
fit pays them; the feature cache serves the others), so the figures compare the search and the
refit under the same machine load. Order: ``--jobs`` as given (default 1, 2, 1).

On a loaded machine the cores are not idle, so the wall seconds of ``n_jobs`` > 1 say little.

    .venv/bin/python benchmarks/lightgbm_jobs.py --jobs 1 2 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from train_profile import DATA, F1_DNF  # noqa: E402

import relgraph  # noqa: E402
from relgraph.baselines.lightgbm_model import LightGBMPredictor  # noqa: E402
from relgraph.query import build_task  # noqa: E402
from relgraph.stages import StageRecorder  # noqa: E402

STAGES = ("features", "current parents", "lightgbm configurations", "refit")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 1])
    args = parser.parse_args()
    db = relgraph.connect(str(DATA / "f1"))
    task = build_task(db, F1_DNF)
    reference: dict[str, object] | None = None
    for n_jobs in args.jobs:
        load = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
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


if __name__ == "__main__":
    main()
