"""The memory-mapped graph (``graph.mmap``) equals the in-memory one, and samples the same batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import relgraph
from relgraph.demo.generate import make_demo_database
from relgraph.graph import build_graph
from relgraph.graph.mmap import build_graph_mmap, build_graph_mmap_parquet
from relgraph.graph.temporal_graph import TemporalGraph
from relgraph.sampling.loader import TemporalNeighborLoader
from relgraph.sampling.sampler import TemporalSampler


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> relgraph.Database:
    folder = tmp_path_factory.mktemp("mmap_demo")
    return relgraph.connect(f"sqlite:///{make_demo_database(folder / 'demo.db', seed=0, scale=0.05)}")


def _assert_same_graph(a: TemporalGraph, b: TemporalGraph) -> None:
    assert a.num_nodes == b.num_nodes
    assert a.edge_types == b.edge_types
    assert a.dropped_edges == b.dropped_edges
    for nt in a.node_types:
        if a.node_time[nt] is None:
            assert b.node_time[nt] is None
        else:
            np.testing.assert_array_equal(a.node_time[nt], b.node_time[nt])
    for et in a.edge_types:
        np.testing.assert_array_equal(a.edge_index[et], b.edge_index[et])
    for nt, fa in a.features.items():
        fb = b.features[nt]
        for kind in ("numerical", "categorical", "timestamp"):
            np.testing.assert_array_equal(getattr(fa, kind), getattr(fb, kind), err_msg=f"{nt}.{kind}")
        np.testing.assert_allclose(fa.text, fb.text, rtol=1e-5, atol=1e-6)
        for name in ("numerical_names", "categorical_names", "categorical_vocab", "timestamp_names", "text_names",
                     "multicategorical_names", "multicategorical_vocab"):
            assert getattr(fa, name) == getattr(fb, name), f"{nt}.{name}"
        for x, y in zip(fa.categorical_first_seen, fb.categorical_first_seen):
            np.testing.assert_array_equal(x, y)


def _assert_same_batches(a: TemporalGraph, b: TemporalGraph, strategy: str) -> None:
    fanouts = [4, 3]
    sa, sb = TemporalSampler(a, fanouts, strategy=strategy), TemporalSampler(b, fanouts, strategy=strategy)
    for et in a.edge_types:  # the adopted CSR is the one the sampler would build
        x, y = sa._adjacency[et], sb._adjacency[et]
        np.testing.assert_array_equal(x.indptr, y.indptr)
        np.testing.assert_array_equal(x.neighbor, y.neighbor)
        assert (x.neighbor_time is None) == (y.neighbor_time is None)
        if x.neighbor_time is not None:
            np.testing.assert_array_equal(x.neighbor_time, y.neighbor_time)
        assert x.max_degree == y.max_degree
    times = a.node_time["customers"]
    rng = np.random.default_rng(0)
    seeds = rng.choice(a.num_nodes["customers"], 200)
    seed_times = times[seeds] + rng.integers(0, 200 * 86_400, len(seeds))
    ba = sa.sample_arrays("customers", seeds, seed_times, rng=7)
    bb = sb.sample_arrays("customers", seeds, seed_times, rng=7)
    for nt in ba.nodes:
        for key in ba.nodes[nt]:
            np.testing.assert_array_equal(ba.nodes[nt][key], bb.nodes[nt][key])
    for et in ba.edge_index:
        np.testing.assert_array_equal(ba.edge_index[et], bb.edge_index[et])
    assert ba.num_sampled_nodes == bb.num_sampled_nodes
    loaders = [
        TemporalNeighborLoader(g, "customers", seeds, seed_times, fanouts, batch_size=64, shuffle=True,
                               strategy=strategy, seed=3)
        for g in (a, b)
    ]
    for x, y in zip(*loaders):
        for nt in x.node_types:
            assert np.array_equal(x[nt].n_id.numpy(), y[nt].n_id.numpy())
            assert np.array_equal(x[nt].rel_time.numpy(), y[nt].rel_time.numpy())


def test_mmap_graph_equals_in_memory_and_samples_the_same(demo: relgraph.Database, tmp_path: Path) -> None:
    memory = build_graph(demo, cache_dir=None)
    # small chunks, so matching, scatter and encoding run over many chunks
    mapped = build_graph_mmap(demo, cache_dir=tmp_path, chunk_rows=997)
    assert isinstance(mapped.node_time["orders"], np.memmap)
    assert isinstance(mapped.edge_index[mapped.edge_types[0]], np.memmap)
    _assert_same_graph(memory, mapped)
    for strategy in ("recent", "uniform"):
        _assert_same_batches(memory, mapped, strategy)
    # a second call reads the cache folder
    again = build_graph_mmap(demo, cache_dir=tmp_path, chunk_rows=997)
    _assert_same_graph(memory, again)


def test_parquet_folder_build_equals_in_memory(demo: relgraph.Database, tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    for name in demo.schema.table_names:
        pq.write_table(demo.tables[name], folder / f"{name}.parquet", row_group_size=500)
    from_parquet = build_graph_mmap_parquet(folder, demo.schema, cache_dir=tmp_path / "cache", chunk_rows=700)
    memory = build_graph(demo, cache_dir=None)
    _assert_same_graph(memory, from_parquet)
    _assert_same_batches(memory, from_parquet, "uniform")


def test_mmap_graph_of_a_cut_database_keeps_only_rows_before_the_cut(demo: relgraph.Database, tmp_path: Path) -> None:
    cut = demo.cut("2024-01-01")
    mapped = build_graph_mmap(cut, cache_dir=tmp_path, chunk_rows=1000)
    _assert_same_graph(build_graph(cut, cache_dir=None), mapped)
    limit = np.datetime64("2024-01-01", "s").astype(np.int64)
    assert int(np.asarray(mapped.node_time["orders"]).max()) < limit


def test_train_and_predict_on_the_mmap_graph(
    demo: relgraph.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relgraph.cli.main import main
    from relgraph.demo.train_step import CHURN_QUERY

    monkeypatch.chdir(tmp_path)  # the graph cache folder is ./.relgraph_cache
    out = tmp_path / "run"
    args = ["--epochs", "1", "--hidden", "16", "--fanouts", "4,2", "--threads", "1", "--quiet", "--graph", "mmap"]
    assert main(["train", demo.source, "--query", CHURN_QUERY, "--model", "gnn", "--out", str(out), *args]) == 0
    assert list((tmp_path / ".relgraph_cache").glob("mmap-*/meta.json"))
    predictions = relgraph.load(out).predict(demo)
    assert len(predictions) > 0
