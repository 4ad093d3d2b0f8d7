"""Issue 27's GNN inputs on the shop: unseen static rows, dominant-value indicators, recent-history
extremes and true history lengths; each alone and together, with the leakage test of each."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from shop_task import START, shop_database, shop_task

from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import Database
from relgraph.gnn.predictor import GNNConfig, GNNPredictor
from relgraph.graph import build_graph
from relgraph.query.task import TaskTables
from relgraph.schema.model import Column, SType

FAST = GNNConfig(hidden=16, fanouts=[8, 4], epochs=3, lr=1e-2, batch_size=128, graph_cache_dir=None, num_threads=1)
#: Customers whose first order comes after the training period (their rows are "unseen").
NEWCOMERS = np.arange(50, 60)
#: Newcomers order from this day on; the last training timestamp is day 240, the first test one day 300.
DEBUT_DAY = 285
FLAGS = ("unseen_static", "code_indicators", "history_extremes", "true_degree")


def newcomer_shop(handle_prefix: str = "c") -> Database:
    """The shop with a unique categorical ``handle`` and a text ``bio`` per customer; the newcomers
    order only from ``DEBUT_DAY`` on. ``handle_prefix`` renames the newcomers' handles and bios."""
    base = shop_database()
    orders = base.tables["orders"].to_pandas()
    late = orders.customer_id.isin(NEWCOMERS)
    orders = orders[~late | (orders.ordered_at >= START + pd.Timedelta(days=DEBUT_DAY))].reset_index(drop=True)
    debut = pd.DataFrame({"customer_id": NEWCOMERS, "ordered_at": START + pd.Timedelta(days=DEBUT_DAY + 1),
                          "amount": 30.0, "channel": "web"})
    orders = pd.concat([orders, debut], ignore_index=True)
    orders["order_id"] = np.arange(len(orders))
    # An integer code column with a dominant value (1 = delivered), read as a number like results.statusId.
    orders["status"] = np.where(np.arange(len(orders)) % 5 == 0, 2.0 + np.arange(len(orders)) % 2, 1.0)
    customers = base.tables["customers"].to_pandas()
    ids = customers.customer_id.to_numpy()
    prefix = np.where(np.isin(ids, NEWCOMERS), handle_prefix, "c")
    customers["handle"] = [f"{p}{i}" for p, i in zip(prefix, ids)]
    customers["bio"] = [f"{p} bio of customer {p}{i} who likes {p}{i % 7}" for p, i in zip(prefix, ids)]
    schema = base.schema
    schema["orders"].columns.append(Column("status", "double", SType.NUMERICAL))
    schema["customers"].columns.extend([Column("handle", "string", SType.CATEGORICAL), Column("bio", "string", SType.TEXT)])
    tables = {"customers": pa.Table.from_pandas(customers, preserve_index=False),
              "orders": pa.Table.from_pandas(orders, preserve_index=False)}
    return Database(SourceData("memory://shop", tables, DeclaredKeys(), f"newcomers-{handle_prefix}"), schema)


@pytest.fixture(scope="module")
def newcomers() -> tuple[Database, TaskTables]:
    db = newcomer_shop()
    return db, shop_task(db)


def test_newcomers_are_referenced_only_after_the_training_period(newcomers) -> None:
    db, task = newcomers
    orders = db.tables["orders"].to_pandas()
    first = orders.groupby("customer_id").ordered_at.min()
    assert (first[NEWCOMERS] > task.train["timestamp"].max()).all()
    assert (first[NEWCOMERS] <= task.test["timestamp"].min()).all()


@pytest.mark.parametrize("unseen_static", [False, True])
def test_an_entity_new_in_test_uses_no_untrained_parameter(newcomers, unseen_static: bool) -> None:
    """A newcomer's handle and bio select parameters training never reached: with ``unseen_static``
    they go to the unseen bucket / count as missing, so renaming them changes no prediction;
    without it (the old behaviour) their untrained embedding rows move the predictions."""
    db, task = newcomers
    model = GNNPredictor(dataclasses.replace(FAST, unseen_static=unseen_static), quiet=True).fit(db, task)
    rows = task.test[task.test.customer_id.isin(NEWCOMERS)]
    renamed = model.predict(newcomer_shop("zz"), rows)
    same = np.allclose(renamed, model.predict(db, rows), rtol=1e-6, atol=1e-7)
    assert same == unseen_static
    seen = task.test[~task.test.customer_id.isin(NEWCOMERS)]
    np.testing.assert_allclose(model.predict(newcomer_shop("zz"), seen), model.predict(db, seen), rtol=1e-6, atol=1e-7)


def test_static_rows_first_referenced_after_the_cutoff_leave_the_vocabulary_and_statistics(newcomers) -> None:
    from relgraph.gnn.tensors import FeatureStore

    db, task = newcomers
    graph = build_graph(db, cache_dir=None)
    cutoff = int(pd.Timestamp(task.train["timestamp"].max()).timestamp())
    stats = FeatureStore.fit(graph, cutoff, unseen_static=True).stats["customers"]
    handles = stats.categorical_values[stats.categorical_names.index("handle")]
    assert sorted(handles) == sorted(f"c{i}" for i in range(50))
    old = FeatureStore.fit(graph, cutoff).stats["customers"]
    assert len(old.categorical_values[old.categorical_names.index("handle")]) == 60
    ages = db.tables["customers"].column("age").to_numpy()
    assert stats.numerical_mean[stats.numerical_names.index("age")] == pytest.approx(ages[:50].mean())


@pytest.mark.parametrize("flag", [*FLAGS, "all"])
def test_prediction_ignores_rows_after_the_prediction_time_with_each_input(newcomers, flag: str) -> None:
    """Leakage, per flag: deleting every row after t leaves the prediction for (entity, t) unchanged,
    for a training time and a test time (at which the newcomers exist)."""
    db, task = newcomers
    config = dataclasses.replace(FAST, epochs=1, **{f: f == flag or flag == "all" for f in FLAGS})
    model = GNNPredictor(config, quiet=True).fit(db, task)
    for t in [task.train["timestamp"].iloc[0], task.test["timestamp"].iloc[0]]:
        rows = task.test[["customer_id"]].drop_duplicates().assign(timestamp=t)
        full = model.predict(db, rows)
        cut = model.predict(db.cut(np.datetime64(pd.Timestamp(t))), rows)
        np.testing.assert_allclose(cut, full, rtol=1e-6, atol=1e-7)


def test_each_input_changes_the_model(newcomers) -> None:
    """Every flag reaches the model: its predictions differ from the default's (so the tests above
    exercise the new inputs, not the old path)."""
    db, task = newcomers
    config = dataclasses.replace(FAST, epochs=1)
    base = GNNPredictor(config, quiet=True).fit(db, task).predict(db, task.test)
    for flag in FLAGS:
        pred = GNNPredictor(dataclasses.replace(config, **{flag: True}), quiet=True).fit(db, task).predict(db, task.test)
        assert not np.allclose(pred, base), flag


def test_save_load_keeps_the_inputs(newcomers, tmp_path) -> None:
    db, task = newcomers
    config = dataclasses.replace(FAST, epochs=1, **dict.fromkeys(FLAGS, True))
    model = GNNPredictor(config, quiet=True).fit(db, task)
    model.save(tmp_path)
    loaded = GNNPredictor.load(tmp_path)
    np.testing.assert_allclose(loaded.predict(db, task.test), model.predict(db, task.test), rtol=1e-6)
