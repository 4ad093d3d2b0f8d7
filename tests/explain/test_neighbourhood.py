"""LightGBM on a few entities' neighbourhood gives exactly the features and predictions of the whole database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from relgraph.runs.explain import load_run
from relgraph.runs.explain.neighbourhood import lightgbm_predict, restrict


def test_neighbourhood_features_equal_the_whole_database(blend_run: Path, shop_db_path: Path) -> None:
    run = load_run(blend_run, "lightgbm")
    db = run.connect(f"sqlite:///{shop_db_path}")
    model = run.model
    ids = db.tables["customers"].column("customer_id").to_pylist()[::7]
    for at in ("2023-06-01", "2024-06-01", "2024-12-30"):
        frame = pd.DataFrame({"customer_id": ids[:5], "timestamp": pd.Timestamp(at)})
        small = restrict(db, model.builder, ids[:5])
        assert small is not None and small.tables["orders"].num_rows < db.tables["orders"].num_rows
        full_x = model.builder.transform(db, frame, "customer_id")
        small_x = model.builder.transform(small, frame, "customer_id")
        pd.testing.assert_frame_equal(full_x, small_x)
        for key in ids[:6]:
            one = pd.DataFrame({"customer_id": [key], "timestamp": [pd.Timestamp(at)]})
            assert np.array_equal(lightgbm_predict(model, db, one), model.predict(db, one))
