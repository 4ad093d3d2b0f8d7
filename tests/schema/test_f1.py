"""Acceptance on the real Ergast data: raw CSVs (everything inferred) and RelBench's rel-f1 (declared)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from f1_reference import F1_FOREIGN_KEYS

import relgraph

pytestmark = pytest.mark.shared

F1_TABLES = {
    "circuits": "circuitId",
    "constructor_results": "constructorResultsId",
    "constructor_standings": "constructorStandingsId",
    "constructors": "constructorId",
    "driver_standings": "driverStandingsId",
    "drivers": "driverId",
    "qualifying": "qualifyId",
    "races": "raceId",
    "results": "resultId",
    "status": "statusId",
}


RACE_EVENTS = ["results", "qualifying", "driver_standings", "constructor_results", "constructor_standings"]


@pytest.fixture(scope="module")
def f1(shared_datasets):
    return relgraph.connect(shared_datasets / "f1")


def test_f1_tables_primary_keys_and_exactly_the_foreign_keys(f1):
    schema = f1.schema
    assert {name: t.primary_key for name, t in schema.tables.items()} == F1_TABLES
    assert all(t.primary_key_inferred for t in schema.tables.values())
    found = {(child, fk.column, fk.references_table) for child, fk in schema.edges()}
    assert found == F1_FOREIGN_KEYS
    for child, fk in schema.edges():
        assert fk.references_column == F1_TABLES[fk.references_table]
        assert fk.inferred and fk.coverage == 1.0 and fk.dangling == 0, (child, fk)
        assert "found in" in fk.evidence


def test_f1_times_own_inherited_and_static(f1):
    schema = f1.schema
    races = schema["races"].time
    assert races is not None and races.inherited_via is None
    assert (races.column, races.time_of_day_column) == ("date", "time")
    for name in RACE_EVENTS:
        time = schema[name].time
        assert time is not None, name
        assert (time.inherited_via, time.parent_table, time.inferred) == ("raceId", "races", True), name
        assert time.evidence
    for name in ["drivers", "circuits", "constructors", "status"]:
        assert schema[name].time is None, name
    assert "dob" in schema["drivers"].time_evidence and "birth" in schema["drivers"].time_evidence


def test_f1_every_result_row_has_its_races_time(f1):
    races = f1.table("races")
    race_time = dict(zip(races.column("raceId").to_pylist(), f1.row_times("races").tolist(), strict=True))
    results = f1.table("results")
    expected = np.array([race_time[r] for r in results.column("raceId").to_pylist()], dtype="datetime64[ns]")
    actual = f1.row_times("results")
    assert not np.isnat(actual).any()
    np.testing.assert_array_equal(actual, expected)
    # races.date + races.time: the 2009 Australian GP (raceId 1) started 2009-03-29 06:00.
    assert race_time[1] == np.datetime64("2009-03-29T06:00:00", "ns").astype(int)
    assert f1.row_times("drivers") is None


def test_f1_inspect_json_is_fast_and_complete(shared_datasets, capsys):
    import time

    from relgraph.cli.main import main

    start = time.perf_counter()
    assert main(["inspect", str(shared_datasets / "f1"), "--json"]) == 0
    elapsed = time.perf_counter() - start
    doc = json.loads(capsys.readouterr().out)
    tables = {t["name"]: t for t in doc["tables"]}
    assert {name: t["primary_key"] for name, t in tables.items()} == F1_TABLES
    found = {
        (t["name"], fk["column"], fk["references_table"]) for t in doc["tables"] for fk in t["foreign_keys"]
    }
    assert found == F1_FOREIGN_KEYS
    assert tables["races"]["time_column"] == "date"
    assert tables["results"]["time"]["inherited_via"] == "raceId"
    assert elapsed < 10  # ~0.5 s on 2 idle cores; generous for a loaded CI machine


def test_rel_f1_gives_exactly_relbenchs_schema(shared_datasets):
    folder = shared_datasets / "rel-f1" / "db"
    db = relgraph.connect(shared_datasets / "rel-f1")
    assert set(db.schema.tables) == {p.stem for p in folder.glob("*.parquet")}
    for path in folder.glob("*.parquet"):
        meta = pq.read_schema(path).metadata
        pkey = json.loads(meta[b"pkey_col"])
        fkeys = json.loads(meta[b"fkey_col_to_pkey_table"])
        time_col = json.loads(meta[b"time_col"])
        table = db.schema[path.stem]
        assert table.primary_key == pkey and not table.primary_key_inferred
        assert {fk.column: fk.references_table for fk in table.foreign_keys} == fkeys
        assert all(not fk.inferred for fk in table.foreign_keys)
        if time_col is None:
            assert table.time is None, path.stem
        else:
            assert (
                table.time is not None and table.time.column == time_col and table.time.inherited_via is None
            )
            assert table.time.time_of_day_column is None and not table.time.inferred
    # RelBench dates qualifying one day before the race: relgraph reports it rather than hiding it.
    assert any(w.startswith("qualifying.raceId:") for w in db.schema.warnings)
