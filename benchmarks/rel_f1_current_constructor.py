"""rel-f1 diagnostic: does the driver's *current constructor* (the team of the driver's last result
at or before the prediction time) add to the depth-2 driver features?

Constructor features: TemporalFeatureBuilder(depth=1) on (current constructorId, timestamp), i.e.
the team's results, standings and constructor results known at that time (leakage-safe as the
builder is). Fixed LightGBM settings, early stopping on validation, mean of 3 seeds; prints
validation and test (AUROC % / MAE). INC=<regex> restricts the constructor features.

    INC='(last(3|5|10)|mean|share)' .venv/bin/python benchmarks/rel_f1_current_constructor.py driver-dnf driver-top3 driver-position
"""
# ruff: noqa: E402, E701, E702, B023, I001  (a diagnostic script kept as it was measured)

import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)); sys.path.insert(0, str(REPO / "benchmarks"))
from rel_f1 import DATA, load_task
from sklearn.metrics import mean_absolute_error, roc_auc_score

import relgraph
from relgraph.baselines.aggregates import TemporalFeatureBuilder

db = relgraph.connect(str(DATA / "db"))
con = db.duckdb()
SQL = '''SELECT f.__i, arg_max(r."constructorId", r.__rg_time) AS c
FROM __fr f JOIN results r ON r."driverId" = f."driverId" AND r.__rg_time <= f."timestamp" GROUP BY f.__i'''
def current_constructor(frame):
    fr = frame[["driverId", "timestamp"]].copy(); fr["__i"] = np.arange(len(fr))
    con.register("__fr", fr); out = con.execute(SQL).df(); con.unregister("__fr")
    c = np.full(len(fr), np.nan); c[out["__i"].to_numpy()] = out["c"].to_numpy(); return c
def num(x): return x.apply(lambda c: c.cat.codes if isinstance(c.dtype, pd.CategoricalDtype) else c).to_numpy(float)
for name in sys.argv[1:]:
    task = load_task(name); ttype = task.task_type
    frames = [task.train, task.val, task.test]; ys = [f["label"].to_numpy() for f in frames]
    t0 = time.time()
    b = TemporalFeatureBuilder()
    X = [b.fit_transform(db, "drivers", task.train, task_type=ttype)] + [b.transform(db, f) for f in frames[1:]]
    X = [num(x) for x in X]
    cs = [current_constructor(f) for f in frames]
    import os; cb = TemporalFeatureBuilder(depth=1, include=os.environ.get("INC") or None)
    cfr = [pd.DataFrame({"constructorId": np.nan_to_num(c, nan=-1).astype(int), "timestamp": f["timestamp"].to_numpy(), "label": f["label"].to_numpy()}) for c, f in zip(cs, frames)]
    C = [cb.fit_transform(db, "constructors", cfr[0], task_type=ttype)] + [cb.transform(db, f) for f in cfr[1:]]
    C = [num(x).copy() for x in C]
    for c, x in zip(cs, C): x[np.isnan(c)] = np.nan
    print(name, "driver feats", X[0].shape[1], "constructor feats", C[0].shape[1], "%.0fs" % (time.time() - t0))
    def score(Xs):
        res = []
        for seed in range(3):
            if ttype == "binary":
                m = lgb.LGBMClassifier(n_estimators=1000, learning_rate=0.03, num_leaves=15, min_child_samples=30, subsample=0.8, subsample_freq=1, colsample_bytree=0.5, verbose=-1, random_state=seed, n_jobs=1)
                m.fit(Xs[0], ys[0], eval_X=(Xs[1],), eval_y=(ys[1],), callbacks=[lgb.early_stopping(50, verbose=False)])
                res.append([100 * roc_auc_score(ys[i], m.predict_proba(Xs[i])[:, 1]) for i in (1, 2)])
            else:
                m = lgb.LGBMRegressor(objective="l1", n_estimators=1000, learning_rate=0.03, num_leaves=15, min_child_samples=30, subsample=0.8, subsample_freq=1, colsample_bytree=0.5, verbose=-1, random_state=seed, n_jobs=1)
                m.fit(Xs[0], ys[0], eval_X=(Xs[1],), eval_y=(ys[1],), callbacks=[lgb.early_stopping(50, verbose=False)])
                res.append([mean_absolute_error(ys[i], m.predict(Xs[i])) for i in (1, 2)])
        return "val {:.3f} test {:.3f}".format(*tuple(np.mean(res, axis=0)))
    print(name, "driver only       ", score(X))
    print(name, "driver+constructor", score([np.hstack([a, c]) for a, c in zip(X, C)]))
