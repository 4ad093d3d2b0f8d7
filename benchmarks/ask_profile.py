"""Where one warm ``relgraph.ask`` spends its time: cProfile of the first answer for 100 entities
(database loaded, backtest included), CPU and wall seconds, the top functions by cumulative time.

    nice -n 5 .venv/bin/python benchmarks/ask_profile.py churn|driver-dnf|driver-top3|... [--top 45]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ask import ASKED, TASKS, _source  # noqa: E402

import relgraph  # noqa: E402
from relgraph.query import parse, split_timestamps, validate  # noqa: E402
from relgraph.runs.ask import ask  # noqa: E402
from relgraph.runs.tasks import prediction_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=list(TASKS))
    parser.add_argument("--top", type=int, default=45, help="functions shown")
    parser.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"])
    parser.add_argument("--threads", type=int, default=1, help="ask's num_threads")
    args = parser.parse_args()
    task = TASKS[args.task]
    db = relgraph.connect(_source(task, Path(tempfile.mkdtemp(prefix="relgraph-ask-profile-"))))
    parsed = parse(task.query)
    resolved = validate(parsed, db.schema)
    at = task.test_cutoff or min(split_timestamps(db, parsed, task.val_cutoff, task.test_cutoff)["test"]).isoformat()
    rows = prediction_rows(db, task.query, resolved.entity_table, resolved.entity_key, pd.Timestamp(at))
    ids = rows[resolved.entity_key].tolist()[:ASKED]
    import lightgbm  # noqa: F401  (imported, as in a running service)

    profile = cProfile.Profile()
    started, cpu = time.perf_counter(), time.process_time()
    profile.enable()
    answer = ask(db, task.query, at=at, ids=ids, num_threads=args.threads)
    profile.disable()
    print(f"{args.task}: wall {time.perf_counter() - started:.1f} s, CPU {time.process_time() - cpu:.1f} s; "
          f"{answer.attrs['backtest']['text']}; {answer.attrs['context']['text']}")
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
