"""The third hop into the entity's parents' own event tables (``sampling.fanouts``): found from the
graph's shape, sampled through a per-edge-type fanout dict, never after the seed time."""

from __future__ import annotations

import numpy as np

from relgraph.graph.temporal_graph import TemporalGraph
from relgraph.sampling import TemporalSampler
from relgraph.sampling.fanouts import entity_parents, parent_event_edges


def _edges(child: str, fk: str, parent: str, child_rows: np.ndarray, parent_rows: np.ndarray) -> dict:
    return {(child, fk, parent): np.stack([child_rows, parent_rows]),
            (parent, f"rev_{fk}", child): np.stack([parent_rows, child_rows])}


def racing_graph(seed: int = 0) -> TemporalGraph:
    """Static drivers and teams; timed results (driver, team) and team standings (team); static
    circuits referenced by timed races, which results also reference (a timed parent: no hop)."""
    rng = np.random.default_rng(seed)
    results, standings, races = 300, 120, 30
    race_of_result = rng.integers(0, races, results)
    race_time = np.sort(rng.integers(0, 10_000, races))
    return TemporalGraph(
        num_nodes={"drivers": 12, "teams": 4, "results": results, "standings": standings, "races": races, "circuits": 5},
        node_time={"drivers": None, "teams": None, "circuits": None, "races": race_time,
                   "results": race_time[race_of_result], "standings": rng.integers(0, 10_000, standings)},
        edge_index={
            **_edges("results", "driver_id", "drivers", np.arange(results), rng.integers(0, 12, results)),
            **_edges("results", "team_id", "teams", np.arange(results), rng.integers(0, 4, results)),
            **_edges("results", "race_id", "races", np.arange(results), race_of_result),
            **_edges("standings", "team_id", "teams", np.arange(standings), rng.integers(0, 4, standings)),
            **_edges("races", "circuit_id", "circuits", np.arange(races), rng.integers(0, 5, races)),
        },
    )


def test_the_parent_is_the_static_table_of_the_entitys_event_table() -> None:
    graph = racing_graph()
    assert entity_parents(graph, "drivers") == ["teams"]  # races are timed, circuits two hops off
    assert sorted(parent_event_edges(graph, "drivers")) == [("results", "team_id", "teams"), ("standings", "team_id", "teams")]
    assert entity_parents(graph, "circuits") == []  # races hold no other static parent


def test_third_hop_samples_the_parents_latest_events_and_none_after_the_seed_time() -> None:
    graph = racing_graph()
    third = set(parent_event_edges(graph, "drivers"))
    fanouts = {et: [4, 1, 2 if et in third else 0] for et in graph.edge_types}
    seeds, times = np.arange(12).repeat(3), np.tile([3_000, 6_000, 9_500], 12)
    batch = TemporalSampler(graph, fanouts, strategy="recent").sample_arrays("drivers", seeds, times)
    # hop 3 reaches only the teams' results and standings: two latest each per team node reached at hop 2
    assert batch.num_sampled_nodes["standings"][3] > 0 and batch.num_sampled_nodes["results"][3] > 0
    assert batch.num_sampled_nodes["races"][3] == 0 and batch.num_sampled_nodes["drivers"][3] == 0
    assert batch.num_sampled_edges[("standings", "team_id", "teams")][2] <= 2 * batch.num_sampled_nodes["teams"][2]
    for table in ("standings", "results"):
        nodes = batch.nodes[table]
        assert (graph.node_time[table][nodes["n_id"]] <= nodes["seed_time"]).all()
    # the two latest standings of each team at the seed time, as the recent strategy takes them
    standings = batch.nodes["standings"]
    team_edges = batch.edge_index[("standings", "team_id", "teams")]
    teams = batch.nodes["teams"]["n_id"][team_edges[1]]
    team_of = graph.edge_index[("standings", "team_id", "teams")][1]
    for team, row, t in zip(teams, standings["n_id"][team_edges[0]], standings["seed_time"][team_edges[0]]):
        eligible = np.flatnonzero((team_of == team) & (graph.node_time["standings"] <= t))
        latest = eligible[np.argsort(graph.node_time["standings"][eligible], kind="stable")][-2:]
        assert row in latest
    # without the third hop nothing of the teams' standings is sampled at all
    base = TemporalSampler(graph, [4, 1], strategy="recent").sample_arrays("drivers", seeds, times)
    assert len(base.nodes["standings"]["n_id"]) == 0
