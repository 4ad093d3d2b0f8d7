"""The f1 CSV folder, PostgreSQL with declared keys and MariaDB without them give the same graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import relgraph
from relgraph.connectors import read_source
from relgraph.graph.temporal_graph import TemporalGraph

F1_PRIMARY_KEYS = {
    "circuits": "circuitId",
    "drivers": "driverId",
    "constructors": "constructorId",
    "status": "statusId",
    "races": "raceId",
    "results": "resultId",
    "driver_standings": "driverStandingsId",
    "constructor_results": "constructorResultsId",
    "constructor_standings": "constructorStandingsId",
    "qualifying": "qualifyId",
}
# The 14 foreign keys of the Ergast data (issue 3's acceptance list).
F1_FOREIGN_KEYS = {
    "races": [("circuitId", "circuits", "circuitId")],
    "results": [
        ("raceId", "races", "raceId"),
        ("driverId", "drivers", "driverId"),
        ("constructorId", "constructors", "constructorId"),
        ("statusId", "status", "statusId"),
    ],
    "driver_standings": [("raceId", "races", "raceId"), ("driverId", "drivers", "driverId")],
    "constructor_results": [
        ("raceId", "races", "raceId"),
        ("constructorId", "constructors", "constructorId"),
    ],
    "constructor_standings": [
        ("raceId", "races", "raceId"),
        ("constructorId", "constructors", "constructorId"),
    ],
    "qualifying": [
        ("raceId", "races", "raceId"),
        ("driverId", "drivers", "driverId"),
        ("constructorId", "constructors", "constructorId"),
    ],
}


def _shape(graph: TemporalGraph) -> dict:
    """What must agree across sources: nodes per type, edges and dropped edges per edge type, node times."""
    return {
        "nodes": dict(graph.num_nodes),
        "edges": {et: int(ei.shape[1]) for et, ei in graph.edge_index.items()},
        "dropped": dict(graph.dropped_edges),
        "timed": sorted(t for t, times in graph.node_time.items() if times is not None),
    }


def _node_times_by_key(db: relgraph.Database, graph: TemporalGraph, table: str) -> dict[int, int]:
    keys = db.tables[table].column(F1_PRIMARY_KEYS[table]).to_pylist()
    return dict(zip(keys, np.asarray(graph.node_time[table]).tolist()))


@pytest.mark.postgres
@pytest.mark.mysql
def test_f1_same_graph_from_csv_postgres_and_mariadb(
    shared_datasets: Path, pg_scratch, mysql_scratch
) -> None:
    csv_db = relgraph.connect(shared_datasets / "f1")
    csv_graph = relgraph.build_graph(csv_db, cache_dir=None)
    tables = read_source(str(shared_datasets / "f1")).tables
    pg_scratch.load(tables, primary_keys=F1_PRIMARY_KEYS, foreign_keys=F1_FOREIGN_KEYS)
    mysql_scratch.load(tables)  # no declared keys at all: everything must be inferred

    pg_db = relgraph.connect(pg_scratch.url)
    assert pg_db.declared.foreign_keys == F1_FOREIGN_KEYS
    my_db = relgraph.connect(mysql_scratch.url)
    assert my_db.declared.primary_keys == {} and my_db.declared.foreign_keys == {}

    expected = _shape(csv_graph)
    assert len(expected["edges"]) == 2 * 14
    for db in (pg_db, my_db):
        graph = relgraph.build_graph(db, cache_dir=None)
        assert _shape(graph) == expected, db.source
        # Same node times per row, matched by primary key (row order may differ between servers).
        for table in ("races", "results", "qualifying"):
            assert _node_times_by_key(db, graph, table) == _node_times_by_key(csv_db, csv_graph, table)
