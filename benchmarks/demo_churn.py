"""Demo shop churn: where is the planted multi-hop signal found?

The generator (``relgraph/demo/generate.py``) raises a customer's churn hazard with the reputation
of the products they bought: bad reviews written by *other* customers, four foreign-key hops from
the customer (customers <- orders <- order_items -> products <- reviews). Today's defaults reach
two hops (GNN fanouts [6, 3]; features of depth 2). This script trains, on the demo's churn query
(``relgraph.demo.train_step.CHURN_QUERY``), one seed each:

- ``lightgbm-d2``: LightGBM over the temporal features of depth 2 (the default);
- ``lightgbm-d4``: the same with depth-4 features (reach the reviews of the products bought);
- ``gnn-2hop`` / ``gnn-4hop``: the demo's GNN with two / four hops of sampling;
- ``hybrid-4hop``: depth-2 features plus out-of-fold scores of the 4-hop GNN.

    .venv/bin/python benchmarks/demo_churn.py --models lightgbm-d2,gnn-4hop --seed 0

Test AUROC and average precision, validation AUROC (models are compared on validation only).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import relgraph  # noqa: E402
from relgraph.baselines.aggregates import TemporalFeatureBuilder  # noqa: E402
from relgraph.baselines.lightgbm_model import LightGBMPredictor  # noqa: E402
from relgraph.demo.generate import make_demo_database  # noqa: E402
from relgraph.demo.train_step import CHURN_QUERY  # noqa: E402
from relgraph.metrics import binary_metrics  # noqa: E402
from relgraph.query import build_task  # noqa: E402

MODELS = ("lightgbm-d2", "lightgbm-d4", "gnn-2hop", "gnn-4hop", "hybrid-4hop")


def make(kind: str, seed: int, cache: str) -> Any:
    from relgraph.gnn.predictor import GNNConfig, GNNPredictor
    from relgraph.runs.hybrid import HybridPredictor

    # The demo's GNN (train_step), with two or four hops.
    base = GNNConfig(seed=seed, hidden=32, fanouts=[6, 3], epochs=5, batch_size=512, max_steps_per_epoch=25,
                     graph_cache_dir=cache, num_threads=1)
    four = dataclasses.replace(base, fanouts=[6, 3, 1, 4])
    return {
        "lightgbm-d2": lambda: LightGBMPredictor(seed=seed),
        "lightgbm-d4": lambda: LightGBMPredictor(seed=seed, builder=TemporalFeatureBuilder(depth=4)),
        "gnn-2hop": lambda: GNNPredictor(base, quiet=True),
        "gnn-4hop": lambda: GNNPredictor(four, quiet=True),
        "hybrid-4hop": lambda: HybridPredictor(seed=seed, gnn_config=four),
    }[kind]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=Path, default=None, help="demo database (default: generated, seed 0)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="relgraph-demo-churn-"))
    path = args.db or make_demo_database(work / "demo.db", seed=0)
    db = relgraph.connect(f"sqlite:///{path}")
    task = build_task(db, CHURN_QUERY)
    print(f"churn: train {len(task.train)}, val {len(task.val)}, test {len(task.test)} rows", flush=True)
    for kind in args.models.split(","):
        started = time.perf_counter()
        model = make(kind, args.seed, str(work / "cache")).fit(db, task)
        val = binary_metrics(task.val["label"].to_numpy(float), model.predict(db, task.val))
        test = binary_metrics(task.test["label"].to_numpy(float), model.predict(db, task.test))
        top = ""
        if model.feature_importance_ is not None:
            top = "; top: " + ", ".join(model.feature_importance_.index[:4])
        print(f"{kind:<12} val auroc {val['auroc']:.4f}  test auroc {test['auroc']:.4f}  test AP "
              f"{test['average_precision']:.4f}  ({time.perf_counter() - started:.0f} s{top})", flush=True)


if __name__ == "__main__":
    main()
