"""The GNNs' batches (``SampledBatch``) hold the very tensors of PyG's ``HeteroData`` view, in its
order, and training, predicting and explaining on them never imports ``torch_geometric``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
from test_temporal_loader import make_loader, shop_graph

from relgraph.sampling import SampledBatch, TemporalNeighborLoader, TemporalSampler


def assert_same(batch: SampledBatch, data) -> None:  # noqa: ANN001 - a HeteroData
    assert list(batch.node_types) == list(data.node_types)
    assert list(batch.edge_types) == list(data.edge_types)
    assert batch.batch_size == data.batch_size and batch.seed_type == data.seed_type
    for key in [*batch.node_types, *batch.edge_types]:
        mine, theirs = batch[key], data[key]
        assert set(mine) == set(theirs.keys()), key
        for name, value in mine.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, theirs[name]), (key, name)
            else:
                assert value == theirs[name], (key, name)
    assert batch.num_sampled_nodes_dict == data.num_sampled_nodes_dict
    assert batch.num_sampled_edges_dict == data.num_sampled_edges_dict


def test_sample_batch_holds_the_hetero_data_tensors() -> None:
    sampler = TemporalSampler(shop_graph(), [4, 3], strategy="uniform")
    seeds, times = np.arange(20), np.full(20, 700)
    batch = sampler.sample_batch("users", seeds, times, rng=3)
    assert_same(batch, sampler.sample("users", seeds, times, rng=3))
    assert batch["users"].n_id.shape[0] >= 20 and batch["users"].num_nodes == batch["users"].n_id.shape[0]
    assert_same(batch, batch.to_hetero_data())


def test_the_loader_yields_the_same_batches_either_way() -> None:
    light, pyg = list(make_loader(hetero_data=False)), list(make_loader())
    assert len(light) == len(pyg) > 1
    for batch, data in zip(light, pyg):
        assert isinstance(batch, SampledBatch)
        assert torch.equal(batch.input_id, data.input_id)
        assert_same(batch, data)


def test_loader_defaults_to_hetero_data() -> None:
    from torch_geometric.data import HeteroData

    loader = TemporalNeighborLoader(shop_graph(), "users", np.arange(4), np.full(4, 500), [2], batch_size=4)
    assert isinstance(next(iter(loader)), HeteroData)


def test_training_predicting_and_explaining_a_gnn_never_import_torch_geometric(tmp_path) -> None:  # noqa: ANN001
    code = f"""
import sys
from pathlib import Path
import relgraph
from relgraph.demo.generate import make_demo_database
from relgraph.demo.train_step import CHURN_QUERY
folder = Path({str(tmp_path)!r})
path = make_demo_database(folder / "demo.db", seed=0, scale=0.1)
config = relgraph.GNNConfig(epochs=1, hidden=16, fanouts=[3, 2], graph_cache_dir=None)
run = relgraph.train(f"sqlite:///{{path}}", CHURN_QUERY, "gnn", out=folder / "run", gnn_config=config, quiet=True)
assert "Contribution per hop" in (folder / "run" / "report.html").read_text()  # the GNN explained
predictions = run.predict(f"sqlite:///{{path}}")
assert len(predictions) and "torch" in sys.modules
assert "torch_geometric" not in sys.modules, "a GNN run imported torch_geometric"
"""
    subprocess.run([sys.executable, "-c", code], check=True)
