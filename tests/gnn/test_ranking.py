"""Ranking GNN: train -> predict top k -> evaluate round trip, and no leakage from rows after t."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relgraph
from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.gnn.ranking import RankingGNNConfig, RankingGNNPredictor
from relgraph.runs.runner import evaluate_run, predict_run, train_run
from relgraph.runs.tasks import TaskSource, build_run_task

T0 = pd.Timestamp("2024-01-01")
QUERY = "PREDICT LIST_DISTINCT(orders.product_id, 0, 14, days) RANK TOP 3 FOR EACH customers.customer_id"
SCHEMA = """
[tables.customers]
primary_key = "customer_id"
time = "signup_at"
[tables.products]
primary_key = "product_id"
time = false
[tables.orders]
primary_key = "order_id"
time = "ordered_at"
foreign_keys = [
  { column = "customer_id", references = "customers.customer_id" },
  { column = "product_id", references = "products.product_id" },
]
"""
SOURCE = TaskSource(query=QUERY, val_cutoff="2024-04-01", test_cutoff="2024-04-29")


def shop(folder: Path, seed: int = 0, customers: int = 40, products: int = 12, days: int = 150) -> Database:
    """Customers who mostly re-buy products of their favourite category (products carry it)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    category = np.arange(products) % 3
    taste = rng.integers(0, 3, customers)
    signup = T0 + pd.to_timedelta(rng.uniform(0, 30, customers), unit="D")
    rows = []
    for c in range(customers):
        times = np.sort(rng.uniform((signup[c] - T0).days + 1, days, rng.integers(8, 30)))
        liked = np.flatnonzero(category == taste[c])
        picks = np.where(rng.random(len(times)) < 0.8, rng.choice(liked, len(times)), rng.integers(0, products, len(times)))
        rows += [(c, int(p), T0 + pd.Timedelta(days=float(t))) for t, p in zip(times, picks)]
    orders = pd.DataFrame(rows, columns=["customer_id", "product_id", "ordered_at"])
    orders.insert(0, "order_id", np.arange(len(orders)))
    pd.DataFrame({"customer_id": np.arange(customers), "signup_at": signup.astype("datetime64[ns]"),
                  "region": rng.choice(["n", "s"], customers)}).to_parquet(folder / "customers.parquet")
    pd.DataFrame({"product_id": np.arange(products), "category": [f"c{c}" for c in category],
                  "price": rng.uniform(5, 50, products)}).to_parquet(folder / "products.parquet")
    orders["ordered_at"] = orders["ordered_at"].astype("datetime64[ns]")
    orders.to_parquet(folder / "orders.parquet")
    (folder / "schema.toml").write_text(SCHEMA)
    return relgraph.connect(folder, schema=folder / "schema.toml")


def small_config(tmp_path: Path) -> RankingGNNConfig:
    return RankingGNNConfig(hidden=16, epochs=2, max_steps_per_epoch=6, batch_size=32, negatives=8,
                            graph_cache_dir=str(tmp_path / "cache"))


def test_train_predict_evaluate_round_trip(tmp_path: Path) -> None:
    db = shop(tmp_path / "shop")
    task = build_run_task(db, SOURCE)
    assert task.task_type == "ranking" and len(task.train) and len(task.val) and len(task.test)
    out = tmp_path / "run"
    metrics = train_run(db, task, out, SOURCE, model="gnn", quiet=True, gnn_config=small_config(tmp_path))
    assert metrics["task"] == "ranking"
    for split in ("val", "test"):
        assert {"map@k", "recall@k", "ndcg@k"} <= set(metrics[split])
        assert 0.0 <= metrics[split]["map@k"] <= 1.0
    assert {"trivial", "history"} <= set(metrics["baselines"])
    assert json.loads((out / "metrics.json").read_text())["test"] == pytest.approx(metrics["test"])
    stored = pd.read_parquet(out / "predictions.parquet")
    assert len(stored) == len(task.test) and all(len(p) == 3 for p in stored["prediction"])

    at = pd.Timestamp("2024-05-10")
    predicted = predict_run(db, out, at)
    assert len(predicted) == len(db.tables["customers"])  # every customer signed up by then
    assert all(len(ids) == 3 and len(set(ids)) == 3 for ids in predicted["prediction"])
    assert all(s[0] >= s[1] >= s[2] for s in predicted["score"])
    assert set(np.concatenate(predicted["prediction"].to_numpy())) <= set(range(12))

    again = evaluate_run(db, out)
    assert again["test"] == pytest.approx(metrics["test"])
    assert again["val"] == pytest.approx(metrics["val"])


def test_gnn_uses_the_graph_beyond_popularity(tmp_path: Path) -> None:
    db = shop(tmp_path / "shop", seed=1, customers=60)
    task = build_run_task(db, SOURCE)
    config = RankingGNNConfig(hidden=16, epochs=4, max_steps_per_epoch=10, batch_size=32, negatives=8,
                              graph_cache_dir=str(tmp_path / "cache"))
    metrics = train_run(db, task, tmp_path / "run", SOURCE, model="gnn", quiet=True, gnn_config=config)
    # Customers re-buy their category: history-aware scores beat the same list for everyone.
    assert metrics["test"]["map@k"] > metrics["baselines"]["trivial"]["test"]["map@k"]


def test_rank_ignores_rows_after_t(tmp_path: Path) -> None:
    db = shop(tmp_path / "shop", seed=2)
    task = build_run_task(db, SOURCE)
    model = RankingGNNPredictor(small_config(tmp_path), quiet=True).fit(db, task)
    t = pd.Timestamp("2024-04-10 12:00")
    frame = pd.DataFrame({"customer_id": np.arange(40), "timestamp": t})
    ids, scores = model.rank(db, frame)
    cut = db.cut(np.datetime64(t))
    ids_cut, scores_cut = model.rank(cut, frame)
    assert ids.tolist() == ids_cut.tolist()
    np.testing.assert_allclose(scores, scores_cut, rtol=1e-5, atol=1e-6)
    # The same model after a save / load round trip ranks identically.
    model.save(tmp_path / "model")
    loaded = RankingGNNPredictor.load(tmp_path / "model")
    ids_loaded, scores_loaded = loaded.rank(db, frame)
    assert ids_loaded.tolist() == ids.tolist()
    np.testing.assert_allclose(scores_loaded, scores, rtol=1e-5, atol=1e-6)


def test_ranking_predictor_refuses_other_tasks(tmp_path: Path) -> None:
    db = shop(tmp_path / "shop")
    source = TaskSource(query="PREDICT COUNT(orders.*, 0, 14, days) > 0 FOR EACH customers.customer_id",
                        val_cutoff="2024-04-01", test_cutoff="2024-04-29")
    with pytest.raises(ModelError, match="ranking tasks"):
        RankingGNNPredictor(small_config(tmp_path)).fit(db, build_run_task(db, source))
