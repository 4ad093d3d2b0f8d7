"""Acceptance on the real nycflights13 export (issue #12): times, missing values, clock numbers.

Keys are not asserted here (another part of the issue); only what relgraph makes of times.
"""

from __future__ import annotations

import numpy as np
import pytest

import relgraph
from relgraph.schema import SType

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def flights_db(shared_datasets):
    folder = shared_datasets / "nycflights13"
    if not folder.is_dir():
        pytest.skip(f"nycflights13 not found at {folder}")
    return relgraph.connect(folder)


def test_row_times_are_the_utc_time_hour(flights_db):
    for name, first, last in (
        ("flights", "2013-01-01T10:00", "2014-01-01T04:00"),
        ("weather", "2013-01-01T06:00", "2013-12-30T23:00"),
    ):
        time = flights_db.schema[name].time
        assert time is not None and time.column == "time_hour" and time.inherited_via is None, name
        times = flights_db.row_times(name)
        assert not np.isnat(times).any(), name
        # "2013-01-01T10:00:00Z" is 10:00 UTC, stored naive like every relgraph time.
        assert str(times.min())[:16] == first and str(times.max())[:16] == last, name


def test_planes_are_static_and_their_year_is_a_feature(flights_db):
    planes = flights_db.schema["planes"]
    assert planes.time is None and flights_db.row_times("planes") is None
    assert planes.column("year").dtype == "int64"
    assert planes.column("year").stype in (SType.NUMERICAL, SType.CATEGORICAL)
    for name in ("airlines", "airports"):
        assert flights_db.schema[name].time is None, name


def test_na_is_missing_not_a_category(flights_db):
    flights = flights_db.schema["flights"]
    for column in ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"):
        assert flights.column(column).dtype == "int64", column
        assert flights.column(column).stype is SType.NUMERICAL, column
    assert flights_db.tables["flights"].column("dep_time").null_count == 8255  # cancelled flights
    assert flights_db.tables["flights"].column("arr_delay").null_count == 9430
    weather = flights_db.schema["weather"]
    for column in ("temp", "humid", "wind_gust", "pressure"):
        assert weather.column(column).stype is SType.NUMERICAL, column
    assert flights_db.schema["planes"].column("speed").dtype == "int64"


def test_hhmm_columns_are_clock_features_not_row_times(flights_db):
    flights = flights_db.schema["flights"]
    for column in ("dep_time", "sched_dep_time", "arr_time", "sched_arr_time"):
        assert "hhmm clock times" in flights.column(column).evidence, column
    # The local year/month/day/hour parts lose to the UTC timestamp.
    assert not flights.time.parts
