"""Demo shop churn: how large is the planted multi-hop signal?

The generator (``relgraph/demo/generate.py``) raises a customer's churn hazard with the reputation
of the products they bought (bad reviews by other customers: customers <- orders <- order_items ->
products <- reviews). This script measures the margin a model that found it could reach: LightGBM
on the default depth-2 temporal features, with and without three hand-written reputation columns
computed from rows before the prediction time only (mean / max over the products a customer bought
of the share of ratings <= 2 among other customers' reviews; the same over purchases of the last 90
days). Fixed LightGBM settings, early stopping on validation, mean over ``--seeds``.

    .venv/bin/python benchmarks/demo_signal_size.py --seeds 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import relgraph  # noqa: E402
from relgraph.baselines.aggregates import TemporalFeatureBuilder  # noqa: E402
from relgraph.demo.generate import make_demo_database  # noqa: E402
from relgraph.demo.train_step import CHURN_QUERY  # noqa: E402
from relgraph.query import build_task  # noqa: E402

REPUTATION_SQL = """
WITH items AS (
  SELECT o.customer_id, oi.product_id, oi.__rg_time AS bought_at
  FROM order_items oi JOIN orders o USING (order_id)),
frame AS (SELECT DISTINCT customer_id, "timestamp" AS t FROM __frame),
bought AS (
  SELECT f.customer_id, f.t, i.product_id, i.bought_at
  FROM frame f JOIN items i ON i.customer_id = f.customer_id AND i.bought_at <= f.t),
rated AS (
  SELECT b.customer_id, b.t, b.bought_at,
         count(r.review_id) FILTER (WHERE r.rating <= 2) AS bad, count(r.review_id) AS n
  FROM bought b LEFT JOIN reviews r
    ON r.product_id = b.product_id AND r.__rg_time <= b.t AND r.customer_id != b.customer_id
  GROUP BY b.customer_id, b.t, b.product_id, b.bought_at)
SELECT customer_id, t AS "timestamp",
       avg(bad / (n + 2.0)) AS rep_mean,
       avg(bad / (n + 2.0)) FILTER (WHERE bought_at > t - INTERVAL 90 DAY) AS rep_mean_90d,
       max(bad / (n + 2.0)) AS rep_max
FROM rated GROUP BY customer_id, t
"""


def reputation(db: relgraph.Database, frame: pd.DataFrame) -> np.ndarray:
    con = db.duckdb()
    con.register("__frame", frame[["customer_id", "timestamp"]])
    try:
        out = con.execute(REPUTATION_SQL).df()
    finally:
        con.unregister("__frame")
    rows = frame[["customer_id", "timestamp"]].merge(out, on=["customer_id", "timestamp"], how="left")
    return rows[["rep_mean", "rep_mean_90d", "rep_max"]].to_numpy(float)


def numeric(x: pd.DataFrame) -> np.ndarray:
    return x.apply(lambda c: c.cat.codes if isinstance(c.dtype, pd.CategoricalDtype) else c).to_numpy(float)


def scores(xs: list[np.ndarray], ys: list[np.ndarray], seeds: int) -> tuple[float, float]:
    res = []
    for seed in range(seeds):
        model = lgb.LGBMClassifier(
            n_estimators=400, learning_rate=0.03, num_leaves=31, min_child_samples=50, subsample=0.8,
            subsample_freq=1, colsample_bytree=0.7, verbose=-1, random_state=seed, n_jobs=1,
        )
        model.fit(xs[0], ys[0], eval_X=(xs[1],), eval_y=(ys[1],), callbacks=[lgb.early_stopping(50, verbose=False)])
        res.append([roc_auc_score(ys[i], model.predict_proba(xs[i])[:, 1]) for i in (1, 2)])
    val, test = np.mean(res, axis=0)
    return float(val), float(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="LightGBM seeds averaged (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = relgraph.connect(f"sqlite:///{make_demo_database(Path(tmp) / 'demo.db', seed=0)}")
        task = build_task(db, CHURN_QUERY)
        frames = [task.train, task.val, task.test]
        print("rows train / val / test:", [len(f) for f in frames])
        started = time.perf_counter()
        builder = TemporalFeatureBuilder()
        xs = [builder.fit_transform(db, "customers", task.train, task_type="binary")]
        xs += [builder.transform(db, f) for f in frames[1:]]
        xs = [numeric(x) for x in xs]
        reps = [reputation(db, f) for f in frames]
        print(f"features {xs[0].shape[1]} + 3 reputation columns ({time.perf_counter() - started:.1f} s)")
    ys = [f["label"].to_numpy() for f in frames]
    alone = [roc_auc_score(y, np.nan_to_num(r[:, 0])) for y, r in zip(ys[1:], reps[1:])]
    print(f"{'reputation alone (rep_mean)':<34} val {alone[0]:.4f}  test {alone[1]:.4f}")
    val, test = scores(xs, ys, args.seeds)
    print(f"{'lightgbm, depth-2 features':<34} val {val:.4f}  test {test:.4f}")
    val, test = scores([np.hstack([x, r]) for x, r in zip(xs, reps)], ys, args.seeds)
    print(f"{'lightgbm, depth-2 + reputation':<34} val {val:.4f}  test {test:.4f}")


if __name__ == "__main__":
    main()
