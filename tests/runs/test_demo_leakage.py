"""End to end on the demo shop: a prediction for (customer, t) is unchanged when every row after
t is deleted from the database (``db.cut(t)``), for the GNN trained from a PQL query."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relgraph.database import connect
from relgraph.demo.generate import make_demo_database
from relgraph.gnn.predictor import GNNConfig, GNNPredictor
from relgraph.query import build_task
from relgraph.runs.tasks import prediction_rows

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("demo")
    path = make_demo_database(folder / "demo.db", seed=1, scale=0.05)
    db = connect(f"sqlite:///{path}")
    task = build_task(db, CHURN)
    config = GNNConfig(hidden=16, fanouts=[6, 3], epochs=2, batch_size=256, graph_cache_dir=None, num_threads=1)
    return db, task, GNNPredictor(config, quiet=True).fit(db, task)


@pytest.mark.parametrize("split", ["val", "test"])
def test_prediction_unchanged_when_the_future_is_deleted(demo, split: str) -> None:
    db, task, model = demo
    t = pd.Timestamp(task.split(split)["timestamp"].min())
    rows = prediction_rows(db, CHURN, "customers", "customer_id", t)
    assert len(rows) > 10
    cut = db.cut(np.datetime64(t))
    assert sum(tb.num_rows for tb in cut.tables.values()) < sum(tb.num_rows for tb in db.tables.values())
    np.testing.assert_allclose(model.predict(cut, rows), model.predict(db, rows), rtol=1e-6, atol=1e-7)
    # The selection of entities itself uses only the past.
    pd.testing.assert_frame_equal(prediction_rows(cut, CHURN, "customers", "customer_id", t), rows)
