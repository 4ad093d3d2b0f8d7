"""How large a GNN epoch needs to be on large training tables (issue #25).

``GNNPredictor`` validates after every epoch and stops ``patience`` epochs after the best one. An
epoch is one pass over the training table, so on the 1M-row demo (156k training rows, 608 steps of
256 seeds) every validation comes after minutes of training, and the run waits for several passes
past the best. This fits the GNN with each ``--variants`` setting (GNNConfig overrides as JSON,
e.g. ``max_steps_per_epoch``) on the same database and task tables and prints per task, variant and
seed: validation and test metric, epochs run and the best one, steps trained and the fit's CPU and
wall seconds (one torch thread, as the GNN trains beside LightGBM in ``--model auto``).

    .venv/bin/python benchmarks/gnn_epoch_size.py --data scale-1M --seeds 0 \\
        --variants 'default={}' 'epoch50k={"max_steps_per_epoch": 196}'
    .venv/bin/python benchmarks/gnn_epoch_size.py --data nycflights --base '{"epochs": 4, "batch_size": 1024}'

Data as ``benchmarks/lightgbm_rate.py`` names it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lightgbm_patience import tasks as named_tasks  # noqa: E402
from lightgbm_rate import cpu_and_wall, means, scale_task, test_score  # noqa: E402

from relgraph.gnn.config import GNNConfig  # noqa: E402
from relgraph.metrics import PRIMARY_METRIC  # noqa: E402


def main() -> None:
    from relgraph.gnn.predictor import GNNPredictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=["scale-1M"], help="rel-f1, demo, f1, nycflights, scale-1M")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=["default={}"], metavar="NAME=JSON")
    parser.add_argument("--base", default='{"num_threads": 1}', help="GNNConfig settings of every variant (JSON)")
    parser.add_argument("--scale-data", type=Path, default=Path("/tmp/relgraph_scale"))
    parser.add_argument("--json", type=Path, help="write every fit's figures here")
    args = parser.parse_args()
    base = {"num_threads": 1, **json.loads(args.base)}
    variants = {v.split("=", 1)[0]: json.loads(v.split("=", 1)[1]) for v in args.variants}
    rows = []
    for data in args.data:
        found = scale_task(data.split("-", 1)[1], args.scale_data) if data.startswith("scale-") else named_tasks(data)
        for name, (db, task) in found.items():
            metric, _ = PRIMARY_METRIC[task.task_type]
            for variant, overrides in variants.items():
                for seed in args.seeds:
                    config = GNNConfig(**{**base, **overrides, "seed": seed, "graph_cache_dir": str(args.scale_data / "cache")})
                    model, cpu, wall = cpu_and_wall(GNNPredictor(config).fit, db, task)
                    history = model.history_
                    scale = 100 if task.task_type == "binary" else 1
                    val = scale * next(r for r in history if r["epoch"] == model.best_epoch())[f"val_{metric}"]
                    test = test_score(task, model.predict(db, task.test))
                    row = {"task": name, "variant": variant, "seed": seed, "val": val, "test": test,
                           "epochs": len(history), "best_epoch": model.best_epoch(), "cpu_s": cpu, "wall_s": wall,
                           "val_per_epoch": [round(scale * r[f"val_{metric}"], 4) for r in history]}
                    rows.append(row)
                    print(f"{name} {variant} seed {seed}: val {val:.3f} test {test:.3f}, epochs {len(history)} "
                          f"(best {row['best_epoch']}), {cpu:.0f} CPU s, {wall:.0f} s; val per epoch {row['val_per_epoch']}",
                          flush=True)
            print(f"\n{name}: mean over seeds (val, test, epochs, CPU s)")
            for variant in variants:
                sel = [r for r in rows if r["task"] == name and r["variant"] == variant]
                print(f"  {variant}: " + means(sel, {"val": ".3f", "test": ".3f", "epochs": ".1f", "cpu_s": ".0f"}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
