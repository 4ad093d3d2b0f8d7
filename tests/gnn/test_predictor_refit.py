"""The GNN refitted on training + validation rows (``GNNConfig.refit``), as LightGBM's refit
(tests/baselines/test_refit.py): it scores only rows from the time every validation label is
known, trains on the validation rows, and sees nothing a model fitted on the database cut at its
start would not; and the third hop into the parents' event tables (``GNNConfig.parent_hop``)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from shop_task import shop_task

from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import Database
from relgraph.gnn.predictor import GNNConfig, GNNPredictor
from relgraph.query.task import TaskTables
from relgraph.schema.model import Column, ForeignKey, SType, TableSchema

FAST = GNNConfig(hidden=16, fanouts=[8, 4], epochs=3, lr=1e-2, batch_size=128, graph_cache_dir=None, num_threads=1,
                 patience=99)
REFIT = dataclasses.replace(FAST, refit=True)


def with_horizon(task: TaskTables, horizon: str) -> TaskTables:
    return dataclasses.replace(task, extra={"label_horizon": horizon})


@pytest.fixture(scope="module")
def refitted(shop_db: Database) -> tuple[TaskTables, GNNPredictor]:
    task = with_horizon(shop_task(shop_db), "20D")
    return task, GNNPredictor(REFIT, quiet=True).fit(shop_db, task)


def test_refit_scores_late_rows_and_keeps_validation_out_of_sample(shop_db: Database, refitted, tmp_path: Path) -> None:
    task, model = refitted
    start = pd.Timestamp(model.refit_["from"])
    assert start == pd.Timestamp(task.val["timestamp"].max()) + pd.Timedelta(days=20)  # the last label's window end
    assert start <= pd.Timestamp(task.test["timestamp"].min())
    assert model.refit_["rows"] == len(task.train) + len(task.val)
    assert model.refit_["epochs"] == model.best_epoch() == len(model.refit_history_)
    first = GNNPredictor(FAST, quiet=True).fit(shop_db, task)
    assert first.refit_model_ is None and first.refit_ is None
    # Validation rows: scored by the first model, the one refit=False fits, so validation stays honest.
    np.testing.assert_allclose(model.predict(shop_db, task.val), first.predict(shop_db, task.val), rtol=1e-6)
    late = model.predict(shop_db, task.test)
    assert not np.allclose(late, first.predict(shop_db, task.test))
    model.save(tmp_path)
    np.testing.assert_allclose(GNNPredictor.load(tmp_path).predict(shop_db, task.test), late, rtol=1e-6)


def test_refit_learns_from_the_validation_labels(shop_db: Database, refitted) -> None:
    """Flipped validation labels change the refitted model only (one epoch: early stopping, which
    reads them too, has no choice to make)."""
    task, _ = refitted
    one = dataclasses.replace(REFIT, epochs=1)
    model = GNNPredictor(one, quiet=True).fit(shop_db, task)
    flipped = GNNPredictor(one, quiet=True).fit(shop_db, dataclasses.replace(task, val=task.val.assign(label=1 - task.val["label"])))
    np.testing.assert_allclose(flipped.predict(shop_db, task.val), model.predict(shop_db, task.val), rtol=1e-6)
    assert np.abs(flipped.predict(shop_db, task.test) - model.predict(shop_db, task.test)).max() > 0.05


def test_no_refit_without_a_label_horizon(shop_db: Database) -> None:
    model = GNNPredictor(dataclasses.replace(REFIT, epochs=1), quiet=True).fit(shop_db, shop_task(shop_db))
    assert "horizon" in model.refit_["skipped"] and model.refit_model_ is None


def _fit_where_it_predicts(db: Database, horizon: str) -> tuple[np.ndarray, np.ndarray]:
    """Predictions at the refit start on the full database, and by a model fitted on the database
    cut there (task tables re-made on it)."""
    model = GNNPredictor(REFIT, quiet=True).fit(db, with_horizon(shop_task(db), horizon))
    t = pd.Timestamp(model.refit_["from"])
    cut = db.cut(np.datetime64(t))
    rows = pd.DataFrame({"customer_id": np.arange(60), "timestamp": t})
    on_cut = GNNPredictor(REFIT, quiet=True).fit(cut, with_horizon(shop_task(cut), horizon))
    assert on_cut.refit_["from"] == model.refit_["from"]
    return model.predict(db, rows), on_cut.predict(cut, rows)


def test_refit_prediction_is_unchanged_on_the_database_cut_where_it_starts(shop_db: Database) -> None:
    full, on_cut = _fit_where_it_predicts(shop_db, "20D")
    assert np.abs(full - on_cut).max() < 1e-4  # float summation order only
    # A refit taking labels as known at once learns from windows still running at t: the test has teeth.
    early_full, early_cut = _fit_where_it_predicts(shop_db, "1s")
    assert np.abs(early_full - early_cut).max() > 0.02


def test_parent_hop_without_a_parent_changes_nothing(shop_db: Database, refitted) -> None:
    """The shop's orders reference no static table but the customer: no third hop, the same model."""
    task, model = refitted
    hop = GNNPredictor(dataclasses.replace(REFIT, parent_hop=2), quiet=True).fit(shop_db, task)
    assert hop.parent_edges_ == []
    np.testing.assert_allclose(hop.predict(shop_db, task.test), model.predict(shop_db, task.test), rtol=1e-6)


def shop_with_stores(db: Database) -> Database:
    """The shop with a static ``stores`` table each order references: the customer's parent,
    whose own event table is every customer's orders."""
    orders = db.tables["orders"].to_pandas()
    orders["store_id"] = np.random.default_rng(1).integers(0, 3, len(orders))
    stores = pd.DataFrame({"store_id": np.arange(3), "region": ["north", "south", "east"]})
    schema = copy.deepcopy(db.schema)
    schema.tables["stores"] = TableSchema("stores", 3, [Column("store_id", "int64", SType.KEY),
                                                       Column("region", "string", SType.CATEGORICAL)], primary_key="store_id")
    schema.tables["orders"].columns.append(Column("store_id", "int64", SType.KEY))
    schema.tables["orders"].foreign_keys.append(ForeignKey("store_id", "stores", "store_id"))
    tables = {"customers": db.tables["customers"], "orders": pa.Table.from_pandas(orders, preserve_index=False),
              "stores": pa.Table.from_pandas(stores, preserve_index=False)}
    return Database(SourceData("memory://shop-stores", tables, DeclaredKeys(), "shop-stores-0"), schema)


def test_parent_hop_adds_a_layer_over_the_stores_orders_and_sees_no_later_row(shop_db: Database, tmp_path: Path) -> None:
    db = shop_with_stores(shop_db)
    task = shop_task(db)
    model = GNNPredictor(dataclasses.replace(FAST, parent_hop=2), quiet=True).fit(db, task)
    assert model.parent_edges_ == [("orders", "store_id", "stores")]
    assert len(model.model.layers) == len(FAST.fanouts) + 1
    plain = GNNPredictor(FAST, quiet=True).fit(db, task)
    assert not np.allclose(model.predict(db, task.test), plain.predict(db, task.test))
    t = task.test["timestamp"].iloc[0]
    rows = task.test[["customer_id"]].drop_duplicates().assign(timestamp=t)
    np.testing.assert_allclose(model.predict(db.cut(np.datetime64(pd.Timestamp(t))), rows), model.predict(db, rows),
                               rtol=1e-6, atol=1e-7)
    model.save(tmp_path)
    np.testing.assert_allclose(GNNPredictor.load(tmp_path).predict(db, task.test), model.predict(db, task.test), rtol=1e-6)
