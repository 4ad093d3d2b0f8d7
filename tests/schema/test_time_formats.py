"""Issue #12 class 4: times not written as timestamps (YYYYMMDD, offsets, date parts, years, hhmm)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import relgraph
from relgraph.connectors.base import DeclaredKeys
from relgraph.database import Database
from relgraph.errors import SchemaError
from relgraph.schema import SType, build_schema
from relgraph.schema.io import write_schema
from relgraph.schema.times import parse_datetimes


def _db(make, tables: dict, declared: DeclaredKeys | None = None, schema_file=None) -> Database:
    data = make(tables, declared)
    return Database(data, build_schema(data, schema_file=schema_file))


def _days(times: np.ndarray) -> list[str]:
    return [str(t)[:10] if not np.isnat(t) else "NaT" for t in times]


def test_iso_strings_with_t_z_and_offsets_are_utc(source_factory) -> None:
    stamps = ["2013-01-01T10:00:00Z", "2013-01-01T05:00:00-05:00", "2013-01-01 11:30:00+01:30", "2013-01-01T10:00:00"]
    db = _db(source_factory, {"readings": {"reading_id": [1, 2, 3, 4], "taken_at": stamps}})
    assert db.schema["readings"].time_column == "taken_at"
    # Each offset is converted: all four are 10:00 UTC, stored naive like every other time.
    assert set(db.row_times("readings").astype(str)) == {"2013-01-01T10:00:00.000000000"}


def test_yyyymmdd_integers_and_strings_are_dates(source_factory) -> None:
    """A trades table (dates as integers, as many warehouse exports write them)."""
    db = _db(
        source_factory,
        {
            "trades": {
                "trade_id": [1, 2, 3],
                "trade_date": [20230102, 20230215, 20231231],
                "settle_date": ["20230104", "20230217", "20240102"],
                "quantity": [100, 20, 5],
            }
        },
    )
    trades = db.schema["trades"]
    assert trades.time_column == "trade_date" and "YYYYMMDD" in trades.time.evidence
    assert _days(db.row_times("trades")) == ["2023-01-02", "2023-02-15", "2023-12-31"]
    # Read as a time too: settlement comes after the trade, so it is kept from the features.
    assert "later than the row's own time" in trades.column("settle_date").evidence
    assert trades.column("quantity").stype is not SType.TIMESTAMP
    # An impossible date (February 31st) makes the column no date column.
    bad = _db(source_factory, {"t": {"t_id": [1, 2], "trade_date": [20230102, 20230231]}})
    assert bad.schema["t"].time is None
    # The DuckDB view holds them as TIMESTAMP, like epoch numbers.
    view = db.duckdb().sql('SELECT trade_date FROM trades ORDER BY trade_id').fetchall()
    assert str(view[0][0]) == "2023-01-02 00:00:00"


def test_date_split_over_columns_is_combined(source_factory) -> None:
    """Hourly weather observations written as year / month / day / hour (nycflights13-style)."""
    db = _db(
        source_factory,
        {
            "observations": {
                "obs_id": [1, 2, 3],
                "year": [2013, 2013, 2013],
                "month": [1, 2, 12],
                "day": [1, 28, 31],
                "hour": [0, 13, 23],
                "temp": [39.0, 41.5, 30.2],
            }
        },
    )
    obs = db.schema["observations"]
    assert obs.time.parts == {"month": "month", "day": "day", "hour": "hour"} and obs.time_column == "year"
    assert "split over columns" in obs.time.evidence
    assert list(db.row_times("observations").astype("datetime64[h]").astype(str)) == [
        "2013-01-01T00",
        "2013-02-28T13",
        "2013-12-31T23",
    ]
    assert {c.name: c.stype for c in obs.columns}["month"] is SType.IGNORED  # part of the row time


def _lahman(make, schema_file=None) -> Database:
    """people <- batting (yearID: one row per player and season)."""
    return _db(
        make,
        {
            "people": {"playerID": ["aaronha01", "ruthba01"], "birthYear": [1934, 1895], "nameLast": ["Aaron", "Ruth"]},
            "batting": {
                "battingID": [1, 2, 3, 4],
                "playerID": ["aaronha01", "aaronha01", "ruthba01", "ruthba01"],
                "yearID": [1954, 1955, 1914, 1915],
                "HR": [13, 27, 0, 4],
            },
        },
        DeclaredKeys(
            primary_keys={"people": "playerID", "batting": "battingID"},
            foreign_keys={"batting": [("playerID", "people", "playerID")]},
        ),
        schema_file,
    )


def test_a_season_year_is_the_row_time_of_an_event_table(source_factory) -> None:
    db = _lahman(source_factory)
    batting = db.schema["batting"].time
    assert batting is not None and batting.column == "yearID" and batting.inherited_via is None
    assert "end of its year" in batting.evidence and "event table" in batting.evidence
    # A season's stats are known once the season is over: never earlier than the true time.
    assert list(db.row_times("batting").astype(str)) == [
        f"{y}-12-31T23:59:59.000000000" for y in (1954, 1955, 1914, 1915)
    ]
    assert db.schema["people"].time is None  # birthYear: a feature of the entity
    assert db.schema["people"].column("birthYear").stype is not SType.IGNORED
    # Nothing of 1955 is visible at the end of 1954's season.
    cut = db.cut("1955-06-01")
    assert cut.tables["batting"].column("yearID").to_pylist() == [1954, 1914, 1915]


def test_a_build_year_of_an_entity_is_a_feature(source_factory) -> None:
    """planes.year (nycflights13) is when the plane was built, not when its row came to exist."""
    db = _db(
        source_factory,
        {"planes": {"tailnum": ["N10156", "N102UW", "N103US"], "year": [2004, 1998, 1999], "seats": [55, 182, 182]}},
    )
    planes = db.schema["planes"]
    assert planes.time is None and "'year' is a year in a table that is no event table" in planes.time_evidence
    assert planes.column("year").stype in (SType.NUMERICAL, SType.CATEGORICAL)


def test_hhmm_integers_are_clock_features_not_row_times(source_factory) -> None:
    db = _db(
        source_factory,
        {
            "flights": {
                "flight_id": [1, 2, 3, 4],
                "dep_time": [517, 1402, 2400, None],
                "flight_date": ["2013-01-01", "2013-01-01", "2013-01-02", "2013-01-02"],
            }
        },
    )
    flights = db.schema["flights"]
    assert flights.time_column == "flight_date"
    dep = flights.column("dep_time")
    assert dep.stype is SType.NUMERICAL and "517 = 05:17" in dep.evidence


def test_schema_file_gives_parts_or_a_year(tmp_path, source_factory) -> None:
    """Wrong inferences are overridable: a year made static, a split date named in the file."""
    path = tmp_path / "lahman.toml"
    path.write_text('[tables.batting]\ntime = false\n')
    assert _lahman(source_factory, path).schema["batting"].time is None
    tables = {"obs": {"obs_id": [1, 2], "yr": [2013, 2014], "mo": [1, 6], "dd": [5, 7]}}
    assert _db(source_factory, tables).schema["obs"].time is None  # unusual names: not recognised
    path.write_text('[tables.obs]\ntime = { column = "yr", month = "mo", day = "dd" }\n')
    db = _db(source_factory, tables, schema_file=path)
    assert _days(db.row_times("obs")) == ["2013-01-05", "2014-06-07"]
    # The written schema reproduces itself.
    out = tmp_path / "written.toml"
    write_schema(db.schema, out)
    again = _db(source_factory, tables, schema_file=out)
    assert again.schema["obs"].time.parts == {"month": "mo", "day": "dd"}
    path.write_text('[tables.obs]\ntime = { column = "yr", month = "dd" }\n')
    tables["obs"]["dd"] = [5, 17]  # month 17 does not exist
    with pytest.raises(SchemaError, match=r"obs\.yr/dd: 1 rows are no dates"):
        _db(source_factory, tables, schema_file=path)


def test_parse_datetimes_number_formats() -> None:
    times, bad = parse_datetimes(pa.array([20230102, 20230231, None]))
    assert _days(times) == ["2023-01-02", "NaT", "NaT"] and bad.to_pylist() == [20230231]
    times, bad = parse_datetimes(pa.array([2005, 1871]))
    assert list(times.astype(str)) == ["2005-12-31T23:59:59.000000000", "1871-12-31T23:59:59.000000000"]


def test_csv_folder_end_to_end(tmp_path) -> None:
    """A CSV export: NA cells, ISO times with Z, hhmm numbers, through relgraph.connect."""
    (tmp_path / "flights.csv").write_text(
        "flight_id,dep_time,dep_delay,time_hour\n"
        "1,517,2,2013-01-01T10:00:00Z\n"
        "2,NA,NA,2013-01-01T11:00:00Z\n"
        "3,1402,-3,2013-01-02T19:00:00Z\n"
    )
    db = relgraph.connect(tmp_path)
    flights = db.schema["flights"]
    assert flights.time_column == "time_hour"
    assert flights.column("dep_delay").dtype == "int64"  # NA is missing, not a string category
    assert db.tables["flights"].column("dep_time").null_count == 1
    assert str(db.row_times("flights")[0]) == "2013-01-01T10:00:00.000000000"
