"""Training with several workers (``relgraph.gnn.distributed``): two processes on this machine
against one, on the demo database; how the seeds are shared; what refuses several workers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relgraph
from relgraph.baselines import TrivialBaseline
from relgraph.cli.main import build_parser
from relgraph.cli.train import gnn_config_from_args
from relgraph.demo.generate import make_demo_database
from relgraph.errors import ModelError
from relgraph.gnn import GNNConfig, GNNPredictor, RankingGNNConfig, RankingGNNPredictor
from relgraph.graph import build_graph
from relgraph.metrics import task_metrics
from relgraph.query.task import TaskTables
from relgraph.sampling import TemporalNeighborLoader
from relgraph.sampling import loader as loader_module
from relgraph.sampling.loader import shard_batches

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"


def small_config() -> GNNConfig:
    # No dropout: the replicas' dropout masks differ from one process's, and that noise would
    # dominate a two-epoch comparison; what is left to differ is the batches' make-up (below).
    return GNNConfig(epochs=2, hidden=16, fanouts=[4, 2], num_threads=1, dropout=0.0, unseen_dropout=0.0,
                     graph_cache_dir=None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, relgraph.Run, relgraph.Run]:
    folder = tmp_path_factory.mktemp("distributed")
    source = f"sqlite:///{make_demo_database(folder / 'demo.db', seed=0, scale=0.05)}"
    one = relgraph.train(source, CHURN, model="gnn", out=folder / "one", gnn_config=small_config())
    two = relgraph.train(source, CHURN, model="gnn", out=folder / "two", gnn_config=small_config(), workers=2)
    assert one is not None and two is not None
    return source, one, two


def exact_config(workers: int = 1) -> GNNConfig:
    """On the shop, every order of a customer and its one customer: the sampled subgraphs are the
    whole neighbourhoods, so one and two workers see the same trees and, with the two half-batch
    gradients averaged, take the same steps."""
    return dataclasses.replace(small_config(), epochs=3, fanouts=[128, 1], lr=1e-2, batch_size=128, workers=workers)


def test_two_workers_predict_as_one(shop) -> None:
    """Two workers give one worker's predictions (to float summation order; 2e-7 measured) on a
    task where the GNN beats the trivial baseline."""
    db, task = shop
    one = GNNPredictor(exact_config(), quiet=True).fit(db, task)
    two = GNNPredictor(exact_config(workers=2), quiet=True).fit(db, task)
    pred_one, pred_two = one.predict(db, task.test), two.predict(db, task.test)
    np.testing.assert_allclose(pred_two, pred_one, atol=1e-5)
    trivial = TrivialBaseline(labels="training").fit(db, task).predict(db, task.test)
    auroc = {name: task_metrics("binary", task.test["label"], p)["auroc"]
             for name, p in (("one", pred_one), ("trivial", trivial))}
    assert auroc["one"] > auroc["trivial"] + 0.05, auroc
    # The test has teeth: without the gradient average, worker 0 learns from its half of each
    # step's batch alone (its shards, trained on in this process) and predicts otherwise.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loader_module, "shard_batches",
                      lambda order, size, rank=0, count=1: shard_batches(order, -(-size // 2), 0, 2))
        alone = GNNPredictor(exact_config(), quiet=True).fit(db, task).predict(db, task.test)
    assert np.abs(alone - pred_two).max() > 1e-3


def test_run_folder_is_the_same_as_with_one_worker(runs: tuple[str, relgraph.Run, relgraph.Run]) -> None:
    _, one, two = runs

    def files(run: relgraph.Run) -> set[str]:
        return {str(p.relative_to(run.directory)) for p in run.directory.rglob("*") if p.is_file()}

    assert files(two) == files(one)
    assert "gnn/gnn.safetensors" in files(two) and "gnn/checkpoint.pt" not in files(two)
    assert two.config["gnn"]["workers"] == 2 and one.config["gnn"]["workers"] == 1
    assert len(two.model.history_) == len(one.model.history_) == 2  # worker 0's record of every epoch


def test_two_worker_run_loads_and_predicts(runs: tuple[str, relgraph.Run, relgraph.Run]) -> None:
    source, _, two = runs
    preds = relgraph.load(two.directory).predict(source)
    assert len(preds) > 0 and preds["probability"].between(0, 1).all()


def test_shards_are_disjoint_and_cover_the_seeds() -> None:
    order = np.random.default_rng(0).permutation(101)
    one = shard_batches(order, 10)
    for count in (2, 3):
        shards = [shard_batches(order, -(-10 // count), rank, count) for rank in range(count)]
        assert len({len(s) for s in shards}) == 1  # every worker takes as many steps
        for step in zip(*shards):
            assert len({len(b) for b in step}) == 1  # equal shares: the gradient average is the batch mean
        seen = np.concatenate([np.concatenate(s) for s in shards])
        padding = (-len(order)) % count
        assert len(seen) == len(order) + padding and set(seen) == set(order.tolist())
        assert len(seen) - len(np.unique(seen)) == padding  # disjoint apart from the padding
    even = np.arange(100)
    halves = [shard_batches(even, 5, rank, 2) for rank in range(2)]
    assert not set(np.concatenate(halves[0])) & set(np.concatenate(halves[1]))
    # each step, the two halves are the one-worker batch of that step
    for step, (a, b) in enumerate(zip(*halves)):
        assert sorted(np.concatenate([a, b])) == sorted(shard_batches(even, 10)[step])
    assert len(one) == 11


def test_loader_shards_each_epoch_alike(shop_db) -> None:
    graph = build_graph(shop_db, cache_dir=None)
    seeds = np.arange(60)
    times = np.full(60, pd.Timestamp("2023-09-01").value // 10**9)
    loaders = [TemporalNeighborLoader(graph, "customers", seeds, times, [4], batch_size=8, shuffle=True, seed=3,
                                      shard=(rank, 2)) for rank in range(2)]
    alone = TemporalNeighborLoader(graph, "customers", seeds, times, [4], batch_size=16, shuffle=True, seed=3)
    assert len(loaders[0]) == len(loaders[1]) == len(alone)
    for epoch in (0, 1):
        for loader in (*loaders, alone):
            loader.epoch = epoch
        steps = zip(*(iter(loader) for loader in loaders), iter(alone))
        for a, b, whole in steps:
            assert sorted([*a.input_id.tolist(), *b.input_id.tolist()]) == sorted(whole.input_id.tolist())


def test_a_failing_fit_ends_every_worker(shop) -> None:
    db, task = shop
    train = task.train.copy()
    train.loc[0, "customer_id"] = 9_999  # no such customer: every worker fails after building the graph
    bad = TaskTables(task.task_type, task.entity_table, task.entity_key, train, task.val, task.test)
    # worker 0's own error comes back, and no worker is left waiting on the others
    with pytest.raises(ModelError, match="9999 is not in table"):
        GNNPredictor(dataclasses.replace(small_config(), workers=2), quiet=True).fit(db, bad)


def test_ranking_refuses_several_workers(shop_db) -> None:
    frame = pd.DataFrame({"customer_id": [0], "timestamp": [pd.Timestamp("2023-06-01")], "label": [[1]]})
    task = TaskTables("ranking", "customers", "customer_id", frame, frame, frame,
                      query="PREDICT LIST_DISTINCT(orders.channel, 0, 30, days) RANK TOP 2 FOR EACH customers.customer_id")
    with pytest.raises(ModelError, match="node|binary"):
        RankingGNNPredictor(RankingGNNConfig(workers=2)).fit(shop_db, task)


def test_cli_workers_flag(tmp_path: Path) -> None:
    argv = ["train", "sqlite:///x.db", "--out", str(tmp_path), "--workers", "2"]
    args = build_parser(argv).parse_args(argv)
    assert gnn_config_from_args(args).workers == 2


def test_the_workers_share_pickles_the_rows_not_the_buffers_they_slice() -> None:
    import pickle

    import pyarrow as pa
    from shop_task import shop_database

    from relgraph.gnn.distributed import copy_for_workers

    db = shop_database()
    big = pa.array(np.arange(1_000_000, dtype=np.int64))  # 8 MB, of which the table shows 16 kB
    db.tables["sliced"] = pa.table({"x": pa.chunked_array([big.slice(0, 1000), big.slice(5000, 1000)])})
    share = pickle.dumps(copy_for_workers(db).tables["sliced"])
    assert len(share) < 100_000
    assert pickle.loads(share).column("x").to_pylist() == list(range(1000)) + list(range(5000, 6000))
    assert db.tables["sliced"].column("x").num_chunks == 2  # the database itself is left as it was
