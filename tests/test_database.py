"""Database: row times (own, clock-combined, inherited, chained, unknown), DuckDB views, cut()."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import TIME_COLUMN, Database
from relgraph.errors import SchemaError
from relgraph.schema import build_schema


def database(tables: dict[str, dict], declared: DeclaredKeys | None = None) -> Database:
    data = SourceData("memory", {n: pa.table(c) for n, c in tables.items()}, declared or DeclaredKeys(), "fp")
    return Database(data, build_schema(data))


def ns(text: str) -> np.datetime64:
    return np.datetime64(text, "ns")


@pytest.fixture
def league() -> Database:
    """races (date + clock time, one unknown date), results (one dangling, one null race), teams (static)."""
    return database(
        {
            "teams": {"team_id": [1, 2]},
            "races": {
                "race_id": [10, 20, 30, 40],
                "date": pa.array([dt.date(2020, 1, 5), dt.date(2020, 2, 5), None, dt.date(2020, 4, 5)]),
                "time": pa.array([dt.time(14, 30), None, dt.time(9, 0), dt.time(8, 15, 30)], pa.time32("s")),
            },
            "results": {
                "result_id": list(range(7)),
                "race_id": [10, 10, 20, 30, 40, 99, None],
                "team_id": [1, 2, 1, 2, 1, 2, 1],
            },
            "lap_notes": {"lap_note_id": [0, 1, 2], "result_id": [0, 4, 3]},
        },
        DeclaredKeys(
            primary_keys={
                "teams": "team_id",
                "races": "race_id",
                "results": "result_id",
                "lap_notes": "lap_note_id",
            },
            foreign_keys={
                "results": [("race_id", "races", "race_id"), ("team_id", "teams", "team_id")],
                "lap_notes": [("result_id", "results", "result_id")],
            },
        ),
    )


def test_row_times_own_clock_inherited_and_unknown(league):
    races = league.row_times("races")
    expected_races = [
        ns("2020-01-05T14:30"),
        ns("2020-02-05"),
        np.datetime64("NaT"),
        ns("2020-04-05T08:15:30"),
    ]
    np.testing.assert_array_equal(races, np.array(expected_races, dtype="datetime64[ns]"))
    results = league.row_times("results")
    expected = [
        races[0],
        races[0],
        races[1],
        np.datetime64("NaT"),
        races[3],
        np.datetime64("NaT"),
        np.datetime64("NaT"),
    ]
    np.testing.assert_array_equal(
        results, np.array(expected, dtype="datetime64[ns]")
    )  # null date, dangling, null key
    np.testing.assert_array_equal(
        league.row_times("lap_notes"), results[[0, 4, 3]]
    )  # inherited through results
    assert league.schema["lap_notes"].time.parent_table == "results"
    assert league.row_times("teams") is None
    assert league.row_times("results").dtype == np.dtype("datetime64[ns]")
    with pytest.raises(KeyError):
        league.row_times("nope")
    assert league.time_span() == (ns("2020-01-05T14:30"), ns("2020-04-05T08:15:30"))


def test_duckdb_views_carry_row_times(league):
    con = league.duckdb()
    rows = con.sql(f"SELECT result_id, {TIME_COLUMN} FROM results ORDER BY result_id").fetchall()
    assert [r[1] for r in rows] == [
        dt.datetime(2020, 1, 5, 14, 30),
        dt.datetime(2020, 1, 5, 14, 30),
        dt.datetime(2020, 2, 5),
        None,
        dt.datetime(2020, 4, 5, 8, 15, 30),
        None,
        None,
    ]
    assert TIME_COLUMN not in [c[0] for c in con.sql("DESCRIBE teams").fetchall()]
    assert league.duckdb() is con


def test_duckdb_views_with_reserved_and_non_ascii_names():
    db = database(
        {
            "order": {"order_id": [1, 2], "group": ["a", "b"], "created": ["2021-03-01", "2021-03-02"]},
            "größe": {"größe_id": [1, 2, 3], "order_id": [1, 2, 2]},
        }
    )
    con = db.duckdb()
    assert con.sql('SELECT "group" FROM "order" ORDER BY order_id').fetchall() == [("a",), ("b",)]
    times = con.sql(f'SELECT {TIME_COLUMN} FROM "größe" ORDER BY "größe_id"').fetchall()
    assert [t[0] for t in times] == [
        dt.datetime(2021, 3, 1),
        dt.datetime(2021, 3, 2),
        dt.datetime(2021, 3, 2),
    ]


def test_cut_keeps_rows_up_to_the_cutoff_only(league):
    cut = league.cut("2020-02-05")
    assert cut.table("races").column("race_id").to_pylist() == [10, 20]
    assert cut.table("results").column("result_id").to_pylist() == [0, 1, 2]  # unknown times dropped
    assert cut.table("lap_notes").column("lap_note_id").to_pylist() == [0]
    assert cut.table("teams").num_rows == 2  # static: whole
    assert {n: t.rows for n, t in cut.schema.tables.items()} == {n: t.num_rows for n, t in cut.tables.items()}
    assert league.schema["results"].rows == 7 and league.table("results").num_rows == 7  # original untouched
    assert cut.fingerprint != league.fingerprint
    for name in cut.tables:
        times = cut.row_times(name)
        if times is not None:
            assert not np.isnat(times).any() and (times <= ns("2020-02-05")).all()


def test_subset_shares_data_and_keeps_schema_and_times(league):
    league.row_times("results")  # resolved before: the subset reuses them
    sub = league.subset(["results", "teams", "races"])
    assert list(sub.tables) == ["teams", "races", "results"]  # the database's order, not the argument's
    assert sub.table("results") is league.table("results")  # no copy
    assert sub.schema["results"] == league.schema["results"] and sub.schema["results"] is not league.schema["results"]
    np.testing.assert_array_equal(sub.row_times("results"), league.row_times("results"))
    assert sub.time_span() == league.time_span()
    assert sub.fingerprint != league.fingerprint
    assert "lap_notes" not in sub.schema and "lap_notes" not in [r[0] for r in sub.duckdb().sql("SHOW TABLES").fetchall()]
    assert league.subset(list(league.tables)).fingerprint == league.fingerprint  # same data: same graph cache
    with pytest.raises(SchemaError, match="'results' refers to table 'races'"):
        league.subset(["results", "teams"])  # results' key (and time) lead to races, left out
    with pytest.raises(KeyError):
        league.subset(["teams", "nope"])


@settings(max_examples=40, deadline=None)
@given(
    parent_days=st.lists(st.one_of(st.none(), st.integers(0, 50)), min_size=1, max_size=12),
    child_refs=st.lists(st.integers(0, 14), max_size=30),
    cutoff=st.integers(-1, 51),
)
def test_cut_never_keeps_a_row_after_the_cutoff(parent_days, child_refs, cutoff):
    start = dt.date(2020, 1, 1)
    parent_days = [0, *parent_days]  # one known date, so the time column is recognised
    dates = [None if d is None else start + dt.timedelta(days=d) for d in parent_days]
    n = len(dates)
    # Child keys beyond the parents are dangling; dangling rows have unknown time and never survive a cut.
    db = database(
        {
            "events": {"event_id": list(range(n)), "happened": pa.array(dates, pa.date32())},
            "event_items": {
                "event_item_id": pa.array(range(len(child_refs)), pa.int64()),
                "event_id": pa.array(child_refs, pa.int64()),
            },
        },
        DeclaredKeys(
            primary_keys={"events": "event_id", "event_items": "event_item_id"},
            foreign_keys={"event_items": [("event_id", "events", "event_id")]},
        ),
    )
    limit = np.datetime64(start + dt.timedelta(days=cutoff), "ns")
    cut = db.cut(limit)
    kept_parents = {i for i, d in enumerate(parent_days) if d is not None and d <= cutoff}
    assert set(cut.table("events").column("event_id").to_pylist()) == kept_parents
    assert cut.table("event_items").column("event_id").to_pylist() == [
        r for r in child_refs if r in kept_parents
    ]
    for name in ("events", "event_items"):
        assert (cut.row_times(name) <= limit).all()


def test_inherited_times_match_float_keys_to_integer_keys():
    db = database(
        {
            "users": {"user_id": [1, 2], "joined": ["2020-01-01", "2020-01-02"]},
            "logins": {"login_id": [1, 2, 3], "user_id": [2.0, None, 1.0]},
        }
    )
    expected = np.array([ns("2020-01-02"), np.datetime64("NaT"), ns("2020-01-01")], dtype="datetime64[ns]")
    np.testing.assert_array_equal(db.row_times("logins"), expected)


@pytest.mark.parametrize(
    "clock",
    [
        pa.array(["06:00:00", None, "23:59:59.5"]),
        pa.array([dt.time(6), None, dt.time(23, 59, 59, 500000)], pa.time64("us")),
        pa.array(
            [dt.timedelta(hours=6), None, dt.timedelta(hours=23, minutes=59, seconds=59.5)], pa.duration("us")
        ),
    ],
    ids=["strings", "time64", "duration"],
)
def test_date_and_clock_columns_combine_whatever_the_clock_type(clock):
    db = database(
        {"races": {"race_id": [1, 2, 3], "date": ["2009-03-29", "2009-04-05", "2009-04-19"], "time": clock}}
    )
    assert db.schema["races"].time.time_of_day_column == "time"
    expected = [ns("2009-03-29T06:00"), ns("2009-04-05"), ns("2009-04-19T23:59:59.5")]
    np.testing.assert_array_equal(db.row_times("races"), np.array(expected, dtype="datetime64[ns]"))


def test_threads_inside_own_connection_run_sql_at_once_over_the_same_views() -> None:
    """A DuckDB connection refuses a second caller while it runs: inside ``own_connection`` a
    thread has its own, which sees the same tables (row times included) and is closed at the end;
    outside it every thread shares one."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from shop_task import shop_database

    from relgraph.engines import engine_for

    db = shop_database()
    shared = db.duckdb()
    assert db.duckdb() is shared and engine_for(db).con is shared
    query = "SELECT count(*), max(__rg_time) FROM orders"
    expected = shared.sql(query).fetchall()
    barrier = threading.Barrier(2)

    def run() -> tuple[int, list[tuple[object, ...]], bool]:
        outside = db.duckdb() is shared
        with db.own_connection() as con:
            assert engine_for(db).con is con and db.duckdb() is con
            barrier.wait()  # both threads hold a connection before either queries
            rows = [con.sql(query).fetchall()[0] for _ in range(20)]
        return id(con), rows, outside and db.duckdb() is shared

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run(), range(2)))
    assert len({id(shared)} | {r[0] for r in results}) == 3
    assert all(rows == expected * 20 and back for _, rows, back in results)
