"""Property tests of the temporal sampler against plainly written references on random small graphs."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import relgraph.sampling.sampler as sampler_module
from relgraph.errors import QueryError, RelgraphError
from relgraph.graph.temporal_graph import NEVER, EdgeType, TemporalGraph
from relgraph.sampling import TemporalSampler

NODE_TYPES = ["a", "b", "c"]
TIME_RANGE = 20


@st.composite
def temporal_graphs(draw: st.DrawFn) -> TemporalGraph:
    """1-3 node types (static or timed, some NEVER times), 1-4 edge types with self-loops and multi-edges."""
    node_types = NODE_TYPES[: draw(st.integers(1, 3))]
    num_nodes = {nt: draw(st.integers(1, 7)) for nt in node_types}
    node_time: dict[str, np.ndarray | None] = {}
    for nt in node_types:
        if draw(st.booleans()):
            times = draw(st.lists(st.integers(0, TIME_RANGE), min_size=num_nodes[nt], max_size=num_nodes[nt]))
            never = draw(st.lists(st.booleans(), min_size=num_nodes[nt], max_size=num_nodes[nt]))
            node_time[nt] = np.where(never, NEVER, times).astype(np.int64)
        else:
            node_time[nt] = None
    edge_index: dict[EdgeType, np.ndarray] = {}
    for i in range(draw(st.integers(1, 4))):
        src, dst = draw(st.sampled_from(node_types)), draw(st.sampled_from(node_types))
        num_edges = draw(st.integers(0, 25))
        rows = draw(st.lists(st.integers(0, num_nodes[src] - 1), min_size=num_edges, max_size=num_edges))
        cols = draw(st.lists(st.integers(0, num_nodes[dst] - 1), min_size=num_edges, max_size=num_edges))
        edge_index[(src, f"rel{i}", dst)] = np.array([rows, cols], dtype=np.int64).reshape(2, -1)
    return TemporalGraph(num_nodes=num_nodes, node_time=node_time, edge_index=edge_index)


@st.composite
def graphs_with_seeds(draw: st.DrawFn) -> tuple[TemporalGraph, str, np.ndarray, np.ndarray]:
    """A graph plus 1-6 seeds of one node type, each with a time at or after the seed row's time."""
    graph = draw(temporal_graphs())
    seed_type = draw(st.sampled_from(graph.node_types))
    times = graph.node_time[seed_type]
    candidates = np.arange(graph.num_nodes[seed_type]) if times is None else np.flatnonzero(times != NEVER)
    if not len(candidates):
        candidates = np.arange(graph.num_nodes[seed_type])
        graph.node_time[seed_type] = None
        times = None
    count = draw(st.integers(1, 6))
    seeds = np.array(draw(st.lists(st.sampled_from(candidates.tolist()), min_size=count, max_size=count)))
    offsets = np.array(draw(st.lists(st.integers(-3, TIME_RANGE), min_size=count, max_size=count)))
    seed_times = offsets if times is None else np.maximum(offsets, times[seeds])
    return graph, seed_type, seeds.astype(np.int64), seed_times.astype(np.int64)


def eligible(graph: TemporalGraph, node_type: str, node: int, seed_time: int) -> bool:
    times = graph.node_time[node_type]
    return times is None or (times[node] != NEVER and times[node] <= seed_time)


def valid_edges_into(
    graph: TemporalGraph, edge_type: EdgeType, node: int, seed_time: int
) -> list[tuple[int, int]]:
    """(edge position, src node) of every edge of ``edge_type`` into ``node`` whose src is eligible."""
    edge_index = graph.edge_index[edge_type]
    return [
        (e, int(edge_index[0, e]))
        for e in range(edge_index.shape[1])
        if edge_index[1, e] == node and eligible(graph, edge_type[0], int(edge_index[0, e]), seed_time)
    ]


def brute_force_paths(
    graph: TemporalGraph, seed_type: str, seeds: np.ndarray, seed_times: np.ndarray, hops: int
) -> Counter:
    """Multiset of (seed index, seed row, path of (edge type, row)) of every time-valid walk up to ``hops``."""
    paths: Counter = Counter()
    for i, (seed, t) in enumerate(zip(seeds.tolist(), seed_times.tolist())):
        frontier = [(seed_type, seed, ())]
        paths[(i, seed, ())] += 1
        for _ in range(hops):
            nxt = []
            for node_type, node, path in frontier:
                for edge_type in graph.edge_types:
                    if edge_type[2] != node_type:
                        continue
                    for _, src in valid_edges_into(graph, edge_type, node, t):
                        child = path + ((edge_type, src),)
                        paths[(i, seed, child)] += 1
                        nxt.append((edge_type[0], src, child))
            frontier = nxt
    return paths


def sampled_parents(batch) -> dict[tuple[str, int], tuple[EdgeType, str, int]]:
    """Child (type, local id) -> (edge type, parent type, parent local id); asserts one parent per child."""
    parent = {}
    for edge_type in batch.edge_types:
        src, _, dst = edge_type
        for child, par in batch[edge_type].edge_index.t().tolist():
            assert (src, child) not in parent, "a sampled node has two parent edges"
            parent[(src, child)] = (edge_type, dst, par)
    return parent


def sampled_paths(batch) -> Counter:
    """Multiset of (seed index, seed row, path of (edge type, row)) of every sampled node."""
    parent = sampled_parents(batch)
    seed_type, batch_size = batch.seed_type, batch.batch_size
    paths: Counter = Counter()
    for node_type in batch.node_types:
        for local in range(batch[node_type].num_nodes):
            path, at = [], (node_type, local)
            while at in parent:
                edge_type, parent_type, parent_local = parent[at]
                path.append((edge_type, int(batch[at[0]].n_id[at[1]])))
                at = (parent_type, parent_local)
            assert at[0] == seed_type and at[1] < batch_size, "a sampled node does not lead back to a seed"
            seed_index = int(batch[node_type].seed[local])
            assert at[1] == seed_index
            paths[(seed_index, int(batch[seed_type].n_id[at[1]]), tuple(reversed(path)))] += 1
    return paths


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    data=graphs_with_seeds(),
    hops=st.integers(1, 3),
    fanout=st.integers(1, 3),
    strategy=st.sampled_from(["uniform", "recent"]),
    replace=st.booleans(),
    rng=st.integers(0, 2**32 - 1),
)
def test_no_node_after_its_seed_time_and_every_edge_exists(
    data, hops, fanout, strategy, replace, rng
) -> None:
    graph, seed_type, seeds, seed_times = data
    replace = replace and strategy == "uniform"
    batch = TemporalSampler(graph, [fanout] * hops, strategy=strategy, replace=replace).sample(
        seed_type, seeds, seed_times, rng
    )
    assert batch.batch_size == len(seeds) and batch.seed_type == seed_type
    assert batch[seed_type].n_id[: len(seeds)].tolist() == seeds.tolist()
    assert batch[seed_type].seed[: len(seeds)].tolist() == list(range(len(seeds)))
    for node_type in graph.node_types:
        store = batch[node_type]
        n_id, seed = store.n_id.numpy(), store.seed.numpy()
        assert store.num_nodes == len(n_id) == len(seed)
        assert (store.seed_time.numpy() == seed_times[seed]).all()
        times = graph.node_time[node_type]
        if times is None:
            assert (store.rel_time == 0).all()
        else:
            # (1) no node is later than its own seed's time, and NEVER rows never appear
            assert (times[n_id] != NEVER).all()
            assert (times[n_id] <= seed_times[seed]).all()
            assert torch.equal(
                store.rel_time, torch.from_numpy((seed_times[seed] - times[n_id]).astype(np.float32))
            )
    edge_sets = {et: set(map(tuple, ei.T.tolist())) for et, ei in graph.edge_index.items()}
    for edge_type in graph.edge_types:
        src, _, dst = edge_type
        local = batch[edge_type].edge_index
        # (2) every sampled edge is an edge of that type, src -> dst, inside one seed's subgraph
        for child, parent in local.t().tolist():
            assert (int(batch[src].n_id[child]), int(batch[dst].n_id[parent])) in edge_sets[edge_type]
            assert batch[src].seed[child] == batch[dst].seed[parent]
    parent = sampled_parents(batch)
    for node_type in graph.node_types:
        # local ids are grouped by hop, in the per-hop counts given (what PyG's trim_to_layer expects)
        depths = []
        for local in range(batch[node_type].num_nodes):
            depth, at = 0, (node_type, local)
            while at in parent:
                depth, at = depth + 1, parent[at][1:]
            depths.append(depth)
        counts = batch.num_sampled_nodes_dict[node_type]
        assert depths == np.repeat(np.arange(hops + 1), counts).tolist()
    for edge_type in graph.edge_types:
        assert sum(batch.num_sampled_edges_dict[edge_type]) == batch[edge_type].edge_index.shape[1]
    sampled_paths(batch)  # tree structure: every non-seed node leads back to its own seed


@SETTINGS
@given(
    data=graphs_with_seeds(),
    hops=st.integers(1, 3),
    strategy=st.sampled_from(["uniform", "recent"]),
    use_all=st.booleans(),
)
def test_full_fanout_equals_brute_force_bfs(data, hops, strategy, use_all) -> None:
    graph, seed_type, seeds, seed_times = data
    fanout = -1 if use_all else 1000  # -1 = all; 1000 exceeds every degree of these graphs
    batch = TemporalSampler(graph, [fanout] * hops, strategy=strategy).sample(seed_type, seeds, seed_times, 0)
    # (3) exact: the multiset of (seed, path of (edge type, row)) of all time-valid walks
    assert sampled_paths(batch) == brute_force_paths(graph, seed_type, seeds, seed_times, hops)


@SETTINGS
@given(data=graphs_with_seeds(), fanout=st.integers(1, 4))
def test_recent_takes_the_k_latest_valid_neighbours(data, fanout) -> None:
    graph, seed_type, seeds, seed_times = data
    batch = TemporalSampler(graph, [fanout], strategy="recent").sample(seed_type, seeds, seed_times)
    children: dict[tuple[EdgeType, int], list[int]] = defaultdict(list)
    for edge_type in graph.edge_types:
        for child, parent in batch[edge_type].edge_index.t().tolist():
            children[(edge_type, parent)].append(int(batch[edge_type[0]].n_id[child]))
    for edge_type in graph.edge_types:
        if edge_type[2] != seed_type:
            continue
        src_times = graph.node_time[edge_type[0]]
        for i, (seed, t) in enumerate(zip(seeds.tolist(), seed_times.tolist())):
            valid = valid_edges_into(graph, edge_type, seed, t)
            # (4) latest first; equal times: the later edge position counts as more recent
            valid.sort(key=lambda e: (0 if src_times is None else src_times[e[1]], e[0]))
            expected = sorted(src for _, src in valid[-fanout:]) if valid else []
            assert sorted(children[(edge_type, i)]) == expected


def star_graph(num_leaves: int = 40) -> TemporalGraph:
    """One hub ``a`` row with ``num_leaves`` timed ``b`` neighbours (times 0..num_leaves-1)."""
    leaves = np.arange(num_leaves)
    return TemporalGraph(
        num_nodes={"a": 1, "b": num_leaves},
        node_time={"a": None, "b": leaves.astype(np.int64)},
        edge_index={("b", "to", "a"): np.stack([leaves, np.zeros(num_leaves, dtype=np.int64)])},
    )


@pytest.mark.parametrize("bitmap_limit", [2**24, 50])  # 50: the 2000 rows are drawn in many chunks
def test_uniform_without_replacement_draws_distinct_eligible_neighbours_uniformly(
    bitmap_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sampler_module, "_BITMAP_LIMIT", bitmap_limit)
    graph = star_graph(40)
    sampler = TemporalSampler(graph, [5], strategy="uniform")
    seed_time = 19  # leaves 0..19 are eligible
    counts = np.zeros(40, dtype=np.int64)
    batch = sampler.sample("a", np.zeros(2000, dtype=np.int64), np.full(2000, seed_time), 7)
    children, parents = batch[("b", "to", "a")].edge_index
    per_parent = np.bincount(parents.numpy(), minlength=2000)
    assert (per_parent == 5).all()
    leaves = batch["b"].n_id.numpy()[children.numpy()]
    pairs = parents.numpy() * 40 + leaves
    assert len(np.unique(pairs)) == len(pairs)  # no leaf twice under one parent
    np.add.at(counts, leaves, 1)
    assert counts[20:].sum() == 0
    # each of 20 leaves is kept with probability 5/20: expect 500 of 2000, sd ~19
    assert counts[:20].min() > 420 and counts[:20].max() < 580


def test_uniform_with_replacement_draws_k_per_node_even_above_degree() -> None:
    graph = star_graph(3)
    batch = TemporalSampler(graph, [8], strategy="uniform", replace=True).sample(
        "a", np.zeros(50, dtype=np.int64), np.full(50, 100), 3
    )
    children, parents = batch[("b", "to", "a")].edge_index
    assert (np.bincount(parents.numpy(), minlength=50) == 8).all()
    assert set(batch["b"].n_id[children].tolist()) == {0, 1, 2}


def test_same_seed_same_sample_and_different_seeds_differ() -> None:
    graph = star_graph(40)
    sampler = TemporalSampler(graph, [5, 5], strategy="uniform")
    seeds, times = np.zeros(16, dtype=np.int64), np.full(16, 39)
    first, again, other = (sampler.sample("a", seeds, times, rng) for rng in (11, 11, 12))
    for node_type in ("a", "b"):
        assert torch.equal(first[node_type].n_id, again[node_type].n_id)
    assert torch.equal(first["b", "to", "a"].edge_index, again["b", "to", "a"].edge_index)
    assert not torch.equal(first["b"].n_id, other["b"].n_id)


def test_extreme_times_are_cut_exactly() -> None:
    # times spanning most of int64, seed times at both ends of int64
    times = np.array([-(2**62), -5, 0, 7, 2**62], dtype=np.int64)
    graph = TemporalGraph(
        num_nodes={"a": 1, "b": 5},
        node_time={"a": None, "b": times},
        edge_index={("b", "to", "a"): np.stack([np.arange(5), np.zeros(5, dtype=np.int64)])},
    )
    sampler = TemporalSampler(graph, [-1])
    for seed_time, expected in [(-(2**63), 0), (-5, 2), (6, 3), (2**62, 5), (NEVER - 1, 5)]:
        batch = sampler.sample("a", np.array([0]), np.array([seed_time]))
        assert batch["b"].num_nodes == expected


@pytest.mark.parametrize(
    ("seed_nodes", "seed_times", "message"),
    [
        ([0, 9], [5, 5], "seed position 1: row 9"),
        ([0], [5, 6], "1 seed nodes but 2 seed times"),
        ([0], [NEVER], "seed position 0: seed time is NEVER"),
        ([3], [2], "seed position 0: row 3 of 'b' has time 3 after its seed time 2"),
    ],
)
def test_bad_seeds_are_rejected_with_their_position(seed_nodes, seed_times, message) -> None:
    sampler = TemporalSampler(star_graph(5), [2])
    with pytest.raises(QueryError, match=message):
        sampler.sample("b", np.array(seed_nodes), np.array(seed_times))


def test_bad_configuration_is_rejected() -> None:
    graph = star_graph(5)
    with pytest.raises(RelgraphError, match="strategy 'latest' is unknown"):
        TemporalSampler(graph, [2], strategy="latest")  # type: ignore[arg-type]
    with pytest.raises(RelgraphError, match="replace=True only applies"):
        TemporalSampler(graph, [2], strategy="recent", replace=True)
    with pytest.raises(RelgraphError, match="which the graph lacks"):
        TemporalSampler(graph, {("a", "to", "b"): [2]})
    with pytest.raises(RelgraphError, match="must be integers >= -1"):
        TemporalSampler(graph, [-2])


def test_per_edge_type_fanouts_follow_only_the_named_types() -> None:
    leaves = np.arange(4)
    graph = TemporalGraph(
        num_nodes={"a": 1, "b": 4},
        node_time={"a": None, "b": None},
        edge_index={
            ("b", "x", "a"): np.stack([leaves, np.zeros(4, dtype=np.int64)]),
            ("b", "y", "a"): np.stack([leaves, np.zeros(4, dtype=np.int64)]),
        },
    )
    batch = TemporalSampler(graph, {("b", "x", "a"): [3]}).sample("a", np.array([0]), np.array([0]))
    assert batch["b", "x", "a"].edge_index.shape == (2, 3)
    assert batch["b", "y", "a"].edge_index.shape == (2, 0)
    assert batch.num_sampled_nodes_dict == {"a": [1, 0], "b": [0, 3]}


def test_recent_breaks_time_ties_by_later_edge_position() -> None:
    # 300 edges in shuffled leaf order, times in 3 tied groups: the last 5 edges of the latest eligible group win
    rng = np.random.default_rng(0)
    leaves = rng.permutation(300)
    graph = TemporalGraph(
        num_nodes={"a": 1, "b": 300},
        node_time={"a": None, "b": (np.arange(300) % 3).astype(np.int64)},
        edge_index={("b", "to", "a"): np.stack([leaves, np.zeros(300, dtype=np.int64)])},
    )
    batch = TemporalSampler(graph, [5], strategy="recent").sample("a", np.array([0]), np.array([1]))
    expected = [int(leaf) for leaf in leaves if leaf % 3 == 1][-5:]  # time 2 is after the seed
    assert sorted(batch["b"].n_id.tolist()) == sorted(expected)


def test_eligible_count_is_the_history_length_not_the_fanout() -> None:
    """A hub with leaves at times 0..39 seen at time 9 has 10 eligible leaves (counted by hand),
    whatever the fanout samples; the sampled leaves are not expanded, so their count is 0."""
    graph = star_graph()
    batch = TemporalSampler(graph, [3], strategy="recent").sample("a", np.array([0, 0]), np.array([9, 39]))
    assert batch["b", "to", "a"].edge_index.shape[1] == 6
    assert batch["b", "to", "a"].eligible.tolist() == [10, 40]
    two_hops = TemporalSampler(graph, [3, 2]).sample("a", np.array([0]), np.array([9]))
    assert two_hops["b", "to", "a"].eligible.tolist() == [10]


@SETTINGS
@given(data=graphs_with_seeds(), hops=st.integers(1, 3), fanout=st.integers(1, 3), rng=st.integers(0, 2**32 - 1))
def test_eligible_counts_match_a_count_by_hand(data, hops, fanout, rng) -> None:
    """Every expanded node's eligible count per edge type is the number of time-valid edges into it;
    nodes of the last hop are not expanded (0)."""
    graph, seed_type, seeds, seed_times = data
    batch = TemporalSampler(graph, [fanout] * hops, strategy="uniform").sample(seed_type, seeds, seed_times, rng)
    parent = sampled_parents(batch)
    for edge_type in graph.edge_types:
        dst = edge_type[2]
        counts = batch[edge_type].eligible.tolist()
        assert len(counts) == batch[dst].num_nodes
        for local, count in enumerate(counts):
            depth, at = 0, (dst, local)
            while at in parent:
                depth, at = depth + 1, parent[at][1:]
            row, t = int(batch[dst].n_id[local]), int(batch[dst].seed_time[local])
            expected = len(valid_edges_into(graph, edge_type, row, t)) if depth < hops else 0
            assert count == expected
