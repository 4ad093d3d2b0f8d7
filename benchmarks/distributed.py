"""Seconds per GNN training epoch with 1 and with N workers (``GNNConfig.workers``, DDP on gloo).

    .venv/bin/python benchmarks/distributed.py --data demo --workers 1 2
    .venv/bin/python benchmarks/distributed.py --data rel-f1 --workers 1 2 --epochs 2

``demo``: the demo shop (``relgraph.demo``, ``--scale``), the churn query; ``rel-f1``: RelBench's
driver-dnf task tables over ``../shared/datasets/rel-f1``. Prints, per worker count, the training
seconds of each epoch (validation excluded; worker 0's clock), the fit's wall time (start-up of the
workers included) and validation AUROC, with the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import relgraph  # noqa: E402
from relgraph.gnn import GNNConfig, GNNPredictor  # noqa: E402

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"


def load(data: str, scale: float) -> tuple[object, object]:
    if data == "rel-f1":
        sys.path.insert(0, str(REPO / "benchmarks"))
        from rel_f1 import DATA, load_task

        return relgraph.connect(DATA), load_task("driver-dnf")
    from relgraph.demo.generate import make_demo_database
    from relgraph.runs.tasks import TaskSource, build_run_task

    path = make_demo_database(Path(tempfile.mkdtemp()) / "demo.db", seed=0, scale=scale)
    db = relgraph.connect(f"sqlite:///{path}")
    return db, build_run_task(db, TaskSource(query=CHURN))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("demo", "rel-f1"), default="demo")
    parser.add_argument("--scale", type=float, default=1.0, help="demo size (1.0: ~3k customers)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads in all (shared by the workers)")
    args = parser.parse_args()
    db, task = load(args.data, args.scale)
    print(f"{args.data}: {len(task.train)} training rows; load average {os.getloadavg()}")
    for workers in args.workers:
        config = GNNConfig(epochs=args.epochs, num_threads=args.threads, workers=workers, patience=args.epochs)
        started = time.perf_counter()
        model = GNNPredictor(config, quiet=True).fit(db, task)
        wall = time.perf_counter() - started
        epochs = ", ".join(f"{h['seconds']:.2f}" for h in model.history_)
        print(f"workers {workers}: epoch seconds [{epochs}]; fit {wall:.1f} s; "
              f"val auroc {model.history_[-1].get('val_auroc', float('nan')):.4f}; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
