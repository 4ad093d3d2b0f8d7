"""The same Ergast tables in PostgreSQL (keys declared) and MariaDB (no keys) give the CSV folder's schema."""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pytest

import relgraph

pytestmark = [pytest.mark.shared, pytest.mark.postgres, pytest.mark.mysql]

TABLES = ["circuits", "races", "drivers", "status", "results"]
KEYS = {
    "circuits": "circuitId",
    "races": "raceId",
    "drivers": "driverId",
    "status": "statusId",
    "results": "resultId",
}
FOREIGN_KEYS = {
    "races": [("circuitId", "circuits", "circuitId")],
    "results": [
        ("raceId", "races", "raceId"),
        ("driverId", "drivers", "driverId"),
        ("statusId", "status", "statusId"),
    ],
}


@pytest.fixture(scope="module")
def ergast(shared_datasets):
    """Five f1 tables as Arrow (results cut to its first 3000 rows to keep loading quick)."""
    options = pa_csv.ConvertOptions(null_values=["\\N", ""], strings_can_be_null=True)
    tables = {
        name: pa_csv.read_csv(shared_datasets / "f1" / f"{name}.csv", convert_options=options)
        for name in TABLES
    }
    tables["results"] = tables["results"].slice(0, 3000).drop_columns(["constructorId"])
    tables["races"] = tables["races"].select(["raceId", "year", "round", "circuitId", "name", "date", "time"])
    return tables


def summary(schema) -> dict:
    return {
        name: (
            t.primary_key,
            sorted((fk.column, fk.references_table, fk.references_column) for fk in t.foreign_keys),
            None if t.time is None else (t.time.column, t.time.time_of_day_column, t.time.inherited_via),
        )
        for name, t in schema.tables.items()
    }


def test_folder_postgres_and_mariadb_agree(ergast, tmp_path, pg_scratch, mysql_scratch):
    folder = tmp_path / "ergast"
    folder.mkdir()
    for name, table in ergast.items():
        pa_csv.write_csv(table, folder / f"{name}.csv")
    expected = summary(relgraph.connect(folder).schema)
    assert expected["results"][2] == ("date", None, "raceId")
    assert expected["races"][2] == ("date", "time", None)
    assert expected["drivers"][2] is None

    pg_scratch.load(ergast, primary_keys=KEYS, foreign_keys=FOREIGN_KEYS)
    postgres = relgraph.connect(pg_scratch.url)
    assert summary(postgres.schema) == expected
    assert not any(fk.inferred for _, fk in postgres.schema.edges())

    mysql_scratch.load(ergast)
    mariadb = relgraph.connect(mysql_scratch.url)
    assert summary(mariadb.schema) == expected
    assert all(fk.inferred for _, fk in mariadb.schema.edges())

    race_times = relgraph.connect(folder).row_times("results")
    for db in (postgres, mariadb):
        order = pc.sort_indices(db.table("results"), [("resultId", "ascending")])
        times = db.row_times("results")[order.to_numpy()]
        assert (times == race_times).all()
