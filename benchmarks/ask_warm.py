"""One warm first ``relgraph.ask`` per task (100 entities, backtest included) in a fresh process of
the checkout given, its wall and CPU seconds and backtest: run two checkouts in turn to compare them under the
same load (CPU seconds on a loaded machine move by a quarter from run to run).

    nice -n 5 .venv/bin/python benchmarks/ask_warm.py <checkout> driver-dnf churn ...
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    root = Path(sys.argv[1]).resolve()
    # The checkout's relgraph and benchmarks/ask.py, not this file's.
    sys.path[:0] = [str(root), str(root / "benchmarks")]
    bench = importlib.import_module("ask")
    relgraph = importlib.import_module("relgraph")
    query = importlib.import_module("relgraph.query")
    ask = importlib.import_module("relgraph.runs.ask").ask
    prediction_rows = importlib.import_module("relgraph.runs.tasks").prediction_rows
    importlib.import_module("lightgbm")  # imported, as in a running service
    folder = Path(tempfile.mkdtemp(prefix="relgraph-ask-warm-"))
    for name in sys.argv[2:]:
        task = bench.TASKS[name]
        db = relgraph.connect(bench._source(task, folder))
        parsed = query.parse(task.query)
        resolved = query.validate(parsed, db.schema)
        at = task.test_cutoff or min(query.split_timestamps(db, parsed, task.val_cutoff, task.test_cutoff)["test"]).isoformat()
        rows = prediction_rows(db, task.query, resolved.entity_table, resolved.entity_key, pd.Timestamp(at))
        ids = rows[resolved.entity_key].tolist()[:bench.ASKED]
        cpu, wall = time.process_time(), time.perf_counter()
        answer = ask(db, task.query, at=at, ids=ids)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{root.name} {name} warm wall {wall:.2f} s, CPU {cpu:.2f} s; {answer.attrs['backtest']['text']}", flush=True)


if __name__ == "__main__":
    main()
