"""Faithfulness of relgraph's explanations, and their cost, on the demo shop and rel-f1 driver-dnf.

For each blend run (its GNN and LightGBM members) and ``--entities`` test entities: remove the
``--k`` top-attributed rows (GNN: from the sampled subgraph; LightGBM: from a copy of the
database) and, ``--draws`` times, k random rows of the same entity; print the mean |change| of
the prediction (log-odds) for both, their gap and the share of entities where the top rows moved
it more. Also the seconds one explanation takes per model kind.

    .venv/bin/python benchmarks/explain.py --datasets demo,rel-f1 --entities 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from relgraph.cli.main import main as cli  # noqa: E402
from relgraph.runs.explain import explain_one, load_run  # noqa: E402
from relgraph.runs.explain.faithfulness import faithfulness  # noqa: E402

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
F1 = REPO / ".." / "shared" / "datasets" / "rel-f1"


def demo_run(folder: Path, scale: float) -> tuple[str, Path]:
    from relgraph.demo.generate import make_demo_database

    db = folder / "demo.db"
    if not db.exists():
        make_demo_database(db, seed=0, scale=scale)
    run = folder / "demo_blend"
    if not (run / "config.json").exists():
        cli(["train", f"sqlite:///{db}", "--query", CHURN, "--model", "blend", "--out", str(run), "--epochs", "3",
             "--threads", "1", "--quiet"])
    return f"sqlite:///{db}", run


def f1_run(folder: Path) -> tuple[str, Path]:
    run = folder / "f1_dnf_blend"
    if not (run / "config.json").exists():
        cli(["train", str(F1), "--task-tables", str(F1 / "tasks" / "driver-dnf"), "--entity-col", "driverId",
             "--time-col", "date", "--label-col", "did_not_finish", "--model", "blend", "--epochs", "4",
             "--threads", "1", "--out", str(run), "--quiet"])
    return str(F1), run


def bench(name: str, source: str, run_dir: Path, args: argparse.Namespace) -> None:
    run = load_run(run_dir)
    db = run.connect(source)
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    rows = preds.drop_duplicates(run.entity_key).sample(min(args.entities, len(preds)), random_state=0)
    # One time per benchmark (the test rows' latest), entities that exist then.
    at = pd.Timestamp(rows["timestamp"].max())
    ids = [k.item() if hasattr(k, "item") else k for k in rows[run.entity_key]]
    seconds = {}
    for kind in ("lightgbm", "gnn", "blend"):
        sub = load_run(run_dir, kind)
        started = time.perf_counter()
        for key in ids[:5]:
            explain_one(sub, db, key, at)
        seconds[kind] = (time.perf_counter() - started) / min(5, len(ids))
    started = time.perf_counter()
    result = faithfulness(run, db, ids, at, k=args.k, draws=args.draws)
    took = time.perf_counter() - started
    print(f"\n{name}: {len(ids)} entities at {at}, k = {args.k}, {args.draws} random draws ({took:.0f} s)")
    print(f"  {'member':<10}{'top-k |change|':>16}{'random-k |change|':>19}{'gap':>9}{'top wins':>10}")
    for kind, r in result.items():
        print(f"  {kind:<10}{r['top_change']:>16.4f}{r['random_change']:>19.4f}{r['gap']:>9.4f}{r['top_wins']:>9.0%}")
    print("  seconds per explanation: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="demo,rel-f1")
    parser.add_argument("--scale", type=float, default=0.25, help="demo size (1.0: ~3k customers)")
    parser.add_argument("--entities", type=int, default=30)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--runs", type=Path, help="folder for databases and runs (default: a temp folder)")
    args = parser.parse_args()
    folder = args.runs or Path(tempfile.mkdtemp(prefix="relgraph_explain_bench_"))
    folder.mkdir(parents=True, exist_ok=True)
    np.random.seed(0)
    for name in args.datasets.split(","):
        if name == "demo":
            bench(f"demo (scale {args.scale})", *demo_run(folder, args.scale), args)
        elif name == "rel-f1":
            if not F1.is_dir():
                print(f"rel-f1 not found at {F1}; skipped")
                continue
            bench("rel-f1 driver-dnf", *f1_run(folder), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
