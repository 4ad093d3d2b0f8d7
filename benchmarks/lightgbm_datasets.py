"""What a LightGBM Dataset costs beside the boosting rounds, on a matrix shaped like rel-f1's
driver-dnf features (13,891 rows x 1,418 columns, random values with two decimals):

    python benchmarks/lightgbm_datasets.py

CPU seconds (one thread) to build a Dataset from scratch (bins found, every value binned), to
build one on another's bins (``reference``: values binned only), to start a booster on a built
Dataset (1 round) and to train the 61 rounds a rel-f1 configuration takes. ``LightGBMPredictor``
builds one Dataset per group of configurations (``baselines.lightgbm_model.Binnings``) instead of
one per configuration and refit (13 on rel-f1).
"""

from __future__ import annotations

import time

import lightgbm as lgb
import numpy as np
import pandas as pd


def main() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(13_891, 1_418)).round(2))
    y = (rng.random(len(x)) < 0.5).astype(float)
    params = {"objective": "binary", "max_bin": 63, "min_data_in_leaf": 100, "num_leaves": 7, "verbose": -1,
              "num_threads": 1, "seed": 0, "deterministic": True, "force_row_wise": True}
    timings = {}
    started = time.process_time()
    built = lgb.Dataset(x, y, params=params, free_raw_data=False).construct()
    timings["Dataset from scratch"] = time.process_time() - started
    started = time.process_time()
    lgb.Dataset(x, y, reference=built, params=params, free_raw_data=False).construct()
    timings["Dataset on another's bins"] = time.process_time() - started
    for rounds in (1, 61):
        started = time.process_time()
        lgb.train(params, built, num_boost_round=rounds)
        timings[f"train {rounds} round(s) on a built Dataset"] = time.process_time() - started
    print(f"{'step':<36} {'CPU s':>7}")
    for name, seconds in timings.items():
        print(f"{name:<36} {seconds:7.2f}")


if __name__ == "__main__":
    main()
