"""Composite references as edges: a child row links to the parent row holding its value tuple."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import relgraph
from relgraph.graph import build_graph


@pytest.fixture
def weather_folder(tmp_path: Path) -> Path:
    """CSV export: weather keyed by (origin, time_hour); one flight's hour has no weather row."""
    (tmp_path / "weather.csv").write_text(
        "origin,time_hour,temp\n"
        "EWR,2013-01-01T06:00:00Z,39.0\n"
        "JFK,2013-01-01T06:00:00Z,39.9\n"
        "EWR,2013-01-01T07:00:00Z,39.0\n"
        "JFK,2013-01-01T07:00:00Z,41.0\n",
        encoding="utf-8",
    )
    (tmp_path / "flights.csv").write_text(
        "origin,time_hour,distance\n"
        "JFK,2013-01-01T07:00:00Z,1400\n"
        "EWR,2013-01-01T06:00:00Z,719\n"
        "JFK,2013-01-01T07:00:00Z,1089\n"
        "EWR,2013-01-01T06:00:00Z,1576\n"
        "JFK,2013-01-01T09:00:00Z,762\n",
        encoding="utf-8",
    )
    return tmp_path


def test_composite_reference_edges_forward_and_reverse(weather_folder):
    db = relgraph.connect(weather_folder)
    assert db.schema["weather"].composite_key == ["origin", "time_hour"]
    graph = build_graph(db, cache_dir=None)
    forward = graph.edge_index[("flights", "origin+time_hour", "weather")]
    np.testing.assert_array_equal(forward, [[0, 1, 2, 3], [3, 0, 3, 0]])
    reverse = graph.edge_index[("weather", "rev_origin+time_hour", "flights")]
    np.testing.assert_array_equal(reverse, [[0, 0, 3, 3], [1, 3, 0, 2]])
    assert graph.dropped_edges[("flights", "origin+time_hour", "weather")] == 1
