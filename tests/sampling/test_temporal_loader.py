"""The loader covers every seed once per pass, aligns seeds with input_id, and is reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from relgraph.errors import QueryError
from relgraph.graph.temporal_graph import TemporalGraph
from relgraph.sampling import TemporalNeighborLoader


def shop_graph(seed: int = 0) -> TemporalGraph:
    """30 static users, 200 timed orders (each -> one user), forward and reverse edges."""
    rng = np.random.default_rng(seed)
    order_user = rng.integers(0, 30, 200)
    orders = np.arange(200)
    return TemporalGraph(
        num_nodes={"users": 30, "orders": 200},
        node_time={"users": None, "orders": rng.integers(0, 1000, 200)},
        edge_index={
            ("orders", "user_id", "users"): np.stack([orders, order_user]),
            ("users", "rev_user_id", "orders"): np.stack([order_user, orders]),
        },
    )


def make_loader(**overrides) -> TemporalNeighborLoader:
    seeds = np.arange(30).repeat(2)  # each user twice, at two times
    times = np.tile([400, 900], 30)
    args = dict(fanouts=[4, 4], batch_size=16, shuffle=True, seed=5, strategy="uniform")
    args.update(overrides)
    return TemporalNeighborLoader(shop_graph(), "users", seeds, times, **args)


def as_tuples(batches) -> list[tuple]:
    return [
        (
            b.input_id.tolist(),
            b["users"].n_id.tolist(),
            b["orders"].n_id.tolist(),
            b["orders", "user_id", "users"].edge_index.tolist(),
        )
        for b in batches
    ]


def test_each_pass_covers_every_seed_once_with_input_id_aligned() -> None:
    loader = make_loader()
    batches = list(loader)
    assert len(batches) == len(loader) == 4
    input_ids = torch.cat([b.input_id for b in batches])
    assert sorted(input_ids.tolist()) == list(range(60))
    for batch in batches:
        positions = batch.input_id.numpy()
        assert batch["users"].n_id[: batch.batch_size].tolist() == loader.seeds[positions].tolist()
        assert batch["users"].seed_time[: batch.batch_size].tolist() == loader.seed_times[positions].tolist()
        # no order after the seed time of the seed it was sampled for
        order_time = shop_graph().node_time["orders"][batch["orders"].n_id.numpy()]
        assert (order_time <= batch["orders"].seed_time.numpy()).all()


def test_same_seed_same_batches_different_seed_or_epoch_differs() -> None:
    first, second = list(make_loader()), list(make_loader())
    assert as_tuples(first) == as_tuples(second)
    assert as_tuples(list(make_loader(seed=6))) != as_tuples(first)
    loader = make_loader()
    assert as_tuples(list(loader)) != as_tuples(list(loader))  # shuffled passes are new epochs


def test_without_shuffle_every_pass_is_identical_and_in_order() -> None:
    loader = make_loader(shuffle=False)
    first = list(loader)
    assert torch.cat([b.input_id for b in first]).tolist() == list(range(60))
    assert as_tuples(first) == as_tuples(list(loader))


def test_worker_processes_give_the_same_batches() -> None:
    assert as_tuples(list(make_loader(num_workers=2))) == as_tuples(list(make_loader()))


def test_seeds_are_validated_up_front() -> None:
    with pytest.raises(QueryError, match="seed position 1: row 30"):
        TemporalNeighborLoader(shop_graph(), "users", np.array([0, 30]), np.array([1, 1]), [2])
