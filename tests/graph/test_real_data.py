"""The graph of the real datasets in ../shared (skipped when absent)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from f1_reference import F1_FOREIGN_KEYS

import relgraph
from relgraph.graph import NEVER, build_graph

pytestmark = pytest.mark.shared



def test_f1_graph_from_connect(shared_datasets: Path, tmp_path: Path) -> None:
    db = relgraph.connect(shared_datasets / "f1")
    graph = build_graph(db, cache_dir=tmp_path)
    assert graph.num_nodes["results"] == 26_280 and graph.num_nodes["races"] == 1_125
    assert {et for et in graph.edge_types if not et[1].startswith("rev_")} == F1_FOREIGN_KEYS
    assert len(graph.edge_types) == 2 * len(F1_FOREIGN_KEYS)
    assert all(n == 0 for n in graph.dropped_edges.values())  # no dangling keys in this data
    for child, fk, parent in F1_FOREIGN_KEYS:
        assert graph.edge_index[(child, fk, parent)].shape[1] == graph.num_nodes[child]
    assert graph.node_time["drivers"] is None and graph.node_time["circuits"] is None
    races, results = graph.node_time["races"], graph.node_time["results"]
    assert races is not None and results is not None and not np.any(results == NEVER)
    rows, race_rows = graph.edge_index[("results", "raceId", "races")]
    assert np.array_equal(results[rows], races[race_rows])
    assert races.min() == np.datetime64("1950-05-13", "s").astype(np.int64)  # negative seconds, exact
    # A second build reads the cache (no timing assertion beyond a generous bound: shared CPU).
    started = time.perf_counter()
    cached = build_graph(db, cache_dir=tmp_path)
    assert time.perf_counter() - started < 5
    for et in graph.edge_types:
        assert np.array_equal(cached.edge_index[et], graph.edge_index[et])


def test_stack_exchange_tags_and_self_references(shared_datasets: Path) -> None:
    db = relgraph.connect(shared_datasets / "stack-bicycles-meta")
    graph = build_graph(db, cache_dir=None)
    parents = graph.edge_index[("Posts", "ParentId", "Posts")]
    assert parents.shape[1] > 0
    reverse = graph.edge_index[("Posts", "rev_ParentId", "Posts")]
    assert {tuple(p) for p in parents.T.tolist()} == {(b, a) for a, b in reverse.T.tolist()}
    posts = graph.features["Posts"]
    if "Tags" in posts.multicategorical_names:
        c = posts.multicategorical_names.index("Tags")
        assert "discussion" in posts.multicategorical_vocab[c]
        assert not any("<" in v or ">" in v for v in posts.multicategorical_vocab[c])
