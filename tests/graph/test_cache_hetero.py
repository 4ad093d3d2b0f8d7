"""Graph cache (hit, miss on changed data or schema, no pickle) and PyG HeteroData conversion."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from relgraph.database import Database
from relgraph.graph import NEVER, TemporalGraph, build_graph
from relgraph.graph.cache import graph_cache_key
from relgraph.schema.model import SType, TimeInfo


def shop(database_factory: Callable[..., Database], amounts: list[float]) -> Database:
    customers = pa.table({"id": [1, 2], "region": ["n", "s"], "bio": ["likes bikes", None]})
    orders = pa.table(
        {
            "id": [1, 2, 3],
            "customer_id": [1, 2, 5],
            "at": pa.array(np.array(["2021-01-01", "2021-02-01", "NaT"], dtype="datetime64[s]")),
            "amount": amounts,
            "tags": ["<a><b>", None, "<b>"],
        }
    )
    return database_factory(
        {"customers": customers, "orders": orders},
        primary_keys={"customers": "id", "orders": "id"},
        foreign_keys={"orders": [("customer_id", "customers", "id")]},
        times={"orders": TimeInfo("at")},
        stypes={"customers": {"bio": SType.TEXT}, "orders": {"tags": SType.MULTICATEGORICAL}},
    )


def assert_same_graph(a: TemporalGraph, b: TemporalGraph) -> None:
    assert a.num_nodes == b.num_nodes and a.dropped_edges == b.dropped_edges
    assert a.edge_types == b.edge_types
    for et in a.edge_types:
        assert np.array_equal(a.edge_index[et], b.edge_index[et])
    for nt in a.node_types:
        ta, tb = a.node_time[nt], b.node_time[nt]
        assert (ta is None and tb is None) or np.array_equal(ta, tb)
        fa, fb = a.features[nt], b.features[nt]
        for name, value in vars(fa).items():
            other = getattr(fb, name)
            if isinstance(value, np.ndarray):
                assert np.array_equal(value, other, equal_nan=value.dtype.kind == "f"), name
            elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
                assert all(np.array_equal(x, y) for x, y in zip(value, other)), name
            else:
                assert value == other, name


def test_cache_hit_returns_the_same_graph_without_rebuilding(
    database_factory: Callable[..., Database], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = shop(database_factory, [1.0, 2.0, 3.0])
    built = build_graph(db, cache_dir=tmp_path)
    entries = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and {p.name for p in entries[0].iterdir()} == {"graph.npz", "meta.json"}
    json.loads((entries[0] / "meta.json").read_text())  # plain JSON, arrays in npz (no pickle)
    with np.load(entries[0] / "graph.npz", allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)

    import relgraph.graph.build as build_module

    def fail(_: Database) -> TemporalGraph:
        raise AssertionError("cache hit expected, graph was rebuilt")

    monkeypatch.setattr(build_module, "_build", fail)
    cached = build_graph(db, cache_dir=tmp_path)
    assert_same_graph(built, cached)
    assert cached.node_time["orders"] is not None and cached.node_time["orders"][2] == NEVER


def test_cache_key_changes_with_data_and_schema(
    database_factory: Callable[..., Database], tmp_path: Path
) -> None:
    db = shop(database_factory, [1.0, 2.0, 3.0])
    changed = shop(database_factory, [1.0, 2.0, 4.0])
    assert graph_cache_key(db) == graph_cache_key(shop(database_factory, [1.0, 2.0, 3.0]))
    assert graph_cache_key(db) != graph_cache_key(changed)
    first = build_graph(db, cache_dir=tmp_path)
    second = build_graph(changed, cache_dir=tmp_path)
    assert (
        first.features["orders"].numerical[2, 0] == 3.0 and second.features["orders"].numerical[2, 0] == 4.0
    )
    retyped = shop(database_factory, [1.0, 2.0, 3.0])
    retyped.schema["customers"].column("region").stype = SType.IGNORED
    assert graph_cache_key(retyped) != graph_cache_key(db)
    assert build_graph(retyped, cache_dir=tmp_path).features["customers"].categorical_names == []
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 3


def test_cache_dir_none_writes_nothing(
    database_factory: Callable[..., Database], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    build_graph(shop(database_factory, [1.0, 2.0, 3.0]), cache_dir=None)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_cache_entry_is_rebuilt(database_factory: Callable[..., Database], tmp_path: Path) -> None:
    db = shop(database_factory, [1.0, 2.0, 3.0])
    built = build_graph(db, cache_dir=tmp_path)
    (tmp_path / graph_cache_key(db) / "graph.npz").write_bytes(b"garbage")
    assert_same_graph(built, build_graph(db, cache_dir=tmp_path))
    assert_same_graph(built, build_graph(db, cache_dir=tmp_path))  # the broken entry was replaced


def test_to_hetero_data(database_factory: Callable[..., Database]) -> None:
    torch = pytest.importorskip("torch")
    graph = build_graph(shop(database_factory, [1.0, 2.0, 3.0]), cache_dir=None)
    data = graph.to_hetero_data()
    assert set(data.node_types) == {"customers", "orders"}
    assert data["customers"].num_nodes == 2 and data["orders"].num_nodes == 3
    assert "time" not in data["customers"]  # static table: no time attribute
    assert data["orders"].time.dtype == torch.int64
    assert data["orders"].time.tolist() == graph.node_time["orders"].tolist()
    for et in graph.edge_types:
        assert data[et].edge_index.dtype == torch.int64
        assert torch.equal(data[et].edge_index, torch.from_numpy(graph.edge_index[et]))
    assert data["orders"].numerical.shape == (3, 1)
    assert data["customers"].categorical.tolist() == [[1], [2]]
    assert data["customers"].text.shape == (2, 32)
    data.validate()
