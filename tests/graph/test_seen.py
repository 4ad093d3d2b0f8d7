"""graph.seen: static rows dated by their first timed reference; the dominant-value rule."""

from __future__ import annotations

import numpy as np

from relgraph.graph.seen import dominant_indicators, dominant_values, seen_from, static_first_reference
from relgraph.graph.temporal_graph import NEVER, TemporalGraph


def referenced_graph() -> TemporalGraph:
    """Static ``player`` rows 0..3 referenced by timed ``game`` rows (times 5, 2, 9, 7) and their
    reverse edges; row 3 is never referenced. ``team`` is static and referenced by nothing timed."""
    games = np.array([[0, 1, 2, 3], [0, 0, 1, 2]])
    return TemporalGraph(
        num_nodes={"player": 4, "game": 4, "team": 2},
        node_time={"player": None, "game": np.array([5, 2, 9, 7]), "team": None},
        edge_index={("game", "player_id", "player"): games, ("player", "rev_player_id", "game"): games[::-1],
                    ("player", "team_id", "team"): np.array([[0, 1], [0, 1]])},
    )


def test_first_reference_is_the_earliest_referencing_row_counted_by_hand() -> None:
    graph = referenced_graph()
    assert static_first_reference(graph, "player").tolist() == [2, 9, 7, NEVER]
    assert static_first_reference(graph, "game") is None  # timed: its own times date it
    assert static_first_reference(graph, "team") is None  # nothing timed refers to it: always seen
    assert seen_from(graph, "player", cutoff=7).tolist() == [2, NEVER, 7, NEVER]


def test_first_reference_ignores_rows_after_a_cut() -> None:
    """Deleting the rows after t changes no row's seen_from at t: rows seen by t stay, others stay unseen at t."""
    graph = referenced_graph()
    for t in range(0, 11):
        keep = graph.node_time["game"] <= t
        cut = TemporalGraph(
            num_nodes=graph.num_nodes, node_time=graph.node_time,
            edge_index={et: ei[:, keep[ei[0 if et[0] == "game" else 1]]] if "game" in et else ei
                        for et, ei in graph.edge_index.items()},
        )
        for cutoff in (4, 8):
            assert ((seen_from(cut, "player", cutoff) <= t) == (seen_from(graph, "player", cutoff) <= t)).all()


def test_dominant_value_rule_is_the_lightgbm_features_one() -> None:
    """Most common value, if it covers >= 10 % of the known values, two rows or more and not all."""
    columns = np.array([
        [1, 5, 3, 7, np.nan],
        [1, 5, 4, 7, np.nan],
        [2, 6, 5, 7, np.nan],
        [1, 6, 6, 7, 1],
    ], dtype=np.float32)
    assert dominant_values(columns) == [1.0, 5.0, None, None, None]  # ties: the smallest value
    flags, missing = dominant_indicators(columns, [1.0, None, None, None, 1.0])
    assert flags.tolist() == [[1, 0], [1, 0], [0, 0], [1, 1]]
    assert missing.tolist() == [[0, 1], [0, 1], [0, 1], [0, 0]]
