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
    .venv/bin/python benchmarks/demo_churn.py --models gnn-2hop --seeds 0 1 2 \
        --gnn-config '{"unseen_static": true}' --json out.json

Test AUROC and average precision, validation AUROC (models are compared on validation only).
``--seeds`` fits every model once per model seed (the database stays the demo's seed 0);
``--gnn-config`` (JSON) is merged into the GNNs' ``GNNConfig`` (as ``benchmarks/rel_f1.py`` does);
``--json`` writes every (model, seed)'s metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
#: ``--gnn-config`` JSON: GNN settings merged into every GNN's config (the hybrid's too).
GNN_FLAGS: dict[str, Any] = {}


def make(kind: str, seed: int, cache: str) -> Any:
    from relgraph.gnn.predictor import GNNConfig, GNNPredictor
    from relgraph.runs.hybrid import HybridPredictor

    # The demo's GNN (train_step), with two or four hops.
    base = GNNConfig(seed=seed, hidden=32, fanouts=[6, 3], epochs=5, batch_size=512, max_steps_per_epoch=25,
                     graph_cache_dir=cache, num_threads=1)
    base = dataclasses.replace(base, **GNN_FLAGS)
    four = dataclasses.replace(base, fanouts=[6, 3, 1, 4])
    return {
        "lightgbm-d2": lambda: LightGBMPredictor(seed=seed),
        "lightgbm-d4": lambda: LightGBMPredictor(seed=seed, builder=TemporalFeatureBuilder(depth=4)),
        "gnn-2hop": lambda: GNNPredictor(base, quiet=True),
        "gnn": lambda: GNNPredictor(base, quiet=True),  # the demo's GNN: gnn-2hop's other name
        "gnn-4hop": lambda: GNNPredictor(four, quiet=True),
        "hybrid-4hop": lambda: HybridPredictor(seed=seed, gnn_config=four),
    }[kind]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, default {','.join(MODELS)}; gnn is gnn-2hop (the demo's GNN)")
    parser.add_argument("--seed", "--seeds", dest="seeds", type=int, nargs="+", default=[0],
                        help="model seeds (default 0), each model fitted once per seed")
    parser.add_argument("--db", type=Path, default=None, help="demo database (default: generated, seed 0)")
    parser.add_argument("--gnn-config", default="{}", help='GNN settings as JSON, e.g. \'{"unseen_static": true}\'')
    parser.add_argument("--json", type=Path, help="also write every (model, seed)'s metrics here")
    args = parser.parse_args()
    GNN_FLAGS.update(json.loads(args.gnn_config))
    work = Path(tempfile.mkdtemp(prefix="relgraph-demo-churn-"))
    path = args.db or make_demo_database(work / "demo.db", seed=0)
    db = relgraph.connect(f"sqlite:///{path}")
    task = build_task(db, CHURN_QUERY)
    print(f"churn: train {len(task.train)}, val {len(task.val)}, test {len(task.test)} rows", flush=True)
    results: dict[str, list[dict[str, Any]]] = {}
    for kind in args.models.split(","):
        for seed in args.seeds:
            started = time.perf_counter()
            model = make(kind, seed, str(work / "cache")).fit(db, task)
            val = binary_metrics(task.val["label"].to_numpy(float), model.predict(db, task.val))
            test = binary_metrics(task.test["label"].to_numpy(float), model.predict(db, task.test))
            seconds = time.perf_counter() - started
            results.setdefault(kind, []).append({"seed": seed, "seconds": seconds, "val": val, "test": test})
            top = ""
            if model.feature_importance_ is not None:
                top = "; top: " + ", ".join(model.feature_importance_.index[:4])
            print(f"{kind:<12} seed {seed} val auroc {val['auroc']:.4f}  test auroc {test['auroc']:.4f}  test AP "
                  f"{test['average_precision']:.4f}  ({seconds:.0f} s{top})", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"gnn_config": GNN_FLAGS, "models": results}, indent=1, default=float))


if __name__ == "__main__":
    main()
