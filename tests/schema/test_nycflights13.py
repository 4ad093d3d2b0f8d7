"""Acceptance on nycflights13: five CSVs, no declared keys, keys not called id, two roles to
airports, and weather keyed by (origin, time_hour). Times are asserted elsewhere."""

from __future__ import annotations

import pytest

import relgraph

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def nycflights13(shared_datasets):
    path = shared_datasets / "nycflights13"
    if not path.is_dir():
        pytest.skip(f"nycflights13 not found at {path}")
    return relgraph.connect(path)


def test_exactly_the_true_keys_and_references(nycflights13):
    schema = nycflights13.schema
    assert {name: t.key_columns for name, t in schema.tables.items()} == {
        "airlines": ["carrier"],
        "airports": ["faa"],
        "flights": [],
        "planes": ["tailnum"],
        "weather": ["origin", "time_hour"],
    }
    references = {(child, (fk.column,), fk.references_table) for child, fk in schema.edges()}
    references |= {(child, tuple(fk.columns), fk.references_table) for child, fk in schema.composite_edges()}
    assert references == {
        ("flights", ("carrier",), "airlines"),
        ("flights", ("tailnum",), "planes"),
        ("flights", ("origin",), "airports"),
        ("flights", ("dest",), "airports"),
        ("weather", ("origin",), "airports"),
        ("flights", ("origin", "time_hour"), "weather"),
    }
    coverage = {(child, fk.column): fk.coverage for child, fk in schema.edges()}
    assert 0.83 < coverage[("flights", "tailnum")] < 0.87  # American/Envoy planes missing from planes
    assert coverage[("flights", "dest")] == pytest.approx(0.977, abs=0.002)
    (weather_fk,) = schema["flights"].composite_foreign_keys
    assert weather_fk.coverage == pytest.approx(0.995, abs=0.002)
