"""Integer Unix epoch time columns: detection, row times, schema files, views, and an end-to-end task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from relgraph.database import TIME_COLUMN, Database
from relgraph.errors import SchemaError
from relgraph.schema import SType, build_schema
from relgraph.schema.times import epoch_column_unit, parse_datetimes

EVENT_TIMES = np.array(
    ["2021-03-01T10:00:00", "2021-03-02T11:30:00", "2021-03-05T00:00:01"], dtype="datetime64[s]"
)
SIGNUPS = np.array(["2020-12-31T23:59:59.123", "2021-01-15T08:00:00.5"], dtype="datetime64[ms]")


def _seconds(times: np.ndarray) -> list[int]:
    return times.astype("datetime64[s]").astype(np.int64).tolist()


def _millis(times: np.ndarray) -> list[int]:
    return times.astype("datetime64[ms]").astype(np.int64).tolist()


def _db(make, tables: dict, schema_file=None) -> Database:
    data = make(tables)
    return Database(data, build_schema(data, schema_file=schema_file))


def _app(make) -> Database:
    """accounts (created_ms: epoch ms) <- events (event_time: epoch s, time_spent: small counts)."""
    return _db(
        make,
        {
            "accounts": {"id": [1, 2], "created_ms": _millis(SIGNUPS), "plan": ["free", "pro"]},
            "events": {
                "id": [10, 11, 12],
                "account_id": [1, 2, 1],
                "event_time": _seconds(EVENT_TIMES),
                "time_spent": [3, 40, 7],
            },
        },
    )


def test_epoch_seconds_and_milliseconds_become_row_times(source_factory) -> None:
    db = _app(source_factory)
    events, accounts = db.schema["events"], db.schema["accounts"]
    assert events.time_column == "event_time" and accounts.time_column == "created_ms"
    assert "integer seconds since 1970 (epoch)" in events.time.evidence
    assert "integer milliseconds since 1970 (epoch)" in accounts.time.evidence
    assert events.column("event_time").stype is SType.TIMESTAMP
    assert accounts.column("created_ms").stype is SType.TIMESTAMP
    np.testing.assert_array_equal(db.row_times("events"), EVENT_TIMES.astype("datetime64[ns]"))
    np.testing.assert_array_equal(db.row_times("accounts"), SIGNUPS.astype("datetime64[ns]"))


def test_counts_ids_and_nameless_numbers_stay_numbers(source_factory) -> None:
    db = _app(source_factory)
    assert db.schema["events"].column("time_spent").stype is not SType.TIMESTAMP
    assert db.schema["events"].column("id").stype is SType.KEY
    in_range = _seconds(EVENT_TIMES)
    # Ids, counts and unnamed numbers in the epoch range are not times: only a time-like name says so.
    plain = _db(source_factory, {"t": {"id": in_range, "visits": in_range, "session_id": [5, 6, 7]}})
    assert plain.schema["t"].time is None
    assert plain.schema["t"].column("id").stype is SType.KEY
    assert plain.schema["t"].column("visits").stype is SType.CATEGORICAL  # 3 distinct integers
    assert epoch_column_unit("id", pa.array(in_range)) is None
    assert epoch_column_unit("time_id", pa.array(in_range)) is None


def test_values_must_agree_on_one_plausible_unit(source_factory) -> None:
    seconds, millis = _seconds(EVENT_TIMES), _millis(EVENT_TIMES)
    mixed = _db(source_factory, {"t": {"id": [1, 2, 3], "event_time": [seconds[0], millis[1], seconds[2]]}})
    assert mixed.schema["t"].time is None
    assert mixed.schema["t"].column("event_time").stype is not SType.TIMESTAMP
    early = _db(source_factory, {"t": {"id": [1, 2], "created_at": [600_000_000, seconds[0]]}})  # 1989
    assert early.schema["t"].time is None


def test_whole_number_floats_with_nulls_and_microseconds() -> None:
    floats = pa.array([float(_seconds(EVENT_TIMES)[0]), None, float(_seconds(EVENT_TIMES)[2])])
    assert epoch_column_unit("created_at", floats) == "s"
    assert epoch_column_unit("created_at", pa.array([1.6e9 + 0.5])) is None  # fractions: not an integer epoch
    times, bad = parse_datetimes(floats)
    assert times[0] == EVENT_TIMES[0] and np.isnat(times[1]) and not len(bad)
    micros = np.array(["2021-03-01T10:00:00.123456"], dtype="datetime64[us]")
    times, bad = parse_datetimes(pa.array(micros.astype(np.int64)))
    assert times[0] == micros[0] and not len(bad)  # exact to the microsecond


def test_schema_file_may_name_an_integer_time_column(source_factory, tmp_path) -> None:
    path = tmp_path / "schema.toml"
    path.write_text('[tables.t]\ntime = "moment"\n', encoding="utf-8")
    tables = {"t": {"id": [1, 2, 3], "moment": _seconds(EVENT_TIMES), "amount": [1, 2, 3]}}
    assert _db(source_factory, tables).schema["t"].time is None  # "moment" is no time name
    db = _db(source_factory, tables, schema_file=path)
    assert db.schema["t"].time_column == "moment"
    assert db.schema["t"].column("moment").stype is SType.TIMESTAMP
    np.testing.assert_array_equal(db.row_times("t"), EVENT_TIMES.astype("datetime64[ns]"))
    path.write_text('[tables.t]\ntime = "amount"\n', encoding="utf-8")
    with pytest.raises(SchemaError, match=r"^t\.amount: 3 int64 values are not Unix epoch times") as err:
        _db(source_factory, tables, schema_file=path)
    assert "\n" not in str(err.value)


def test_duckdb_views_show_epoch_columns_as_timestamps(source_factory) -> None:
    con = _app(source_factory).duckdb()
    rows = con.execute(
        f"SELECT event_time, {TIME_COLUMN}, typeof(event_time) FROM events ORDER BY id"
    ).fetchall()
    assert (
        [r[0] for r in rows] == [r[1] for r in rows] == [pd.Timestamp(t).to_pydatetime() for t in EVENT_TIMES]
    )
    assert rows[0][2].startswith("TIMESTAMP")


# ----------------------------------------------------------------------------- end to end

SHOP_START = np.datetime64("2022-01-01T00:00:00", "s")


def _shop(make, epoch: bool) -> Database:
    """customers (signed_up_at, birth_date) <- orders (event_time, quoted_at, amount) over 200 days.

    ``epoch``: times stored as integers (signed_up_at in ms, the others in s) instead
    of Arrow timestamps; everything else identical.
    """
    rng = np.random.default_rng(0)
    n = 120
    created = SHOP_START + np.sort(rng.integers(0, 200 * 86_400, n)).astype("timedelta64[s]")
    quoted = created - rng.integers(60, 86_400, n).astype("timedelta64[s]")
    signups = SHOP_START - np.array([30, 10, 5, 0], dtype="timedelta64[D]") + np.timedelta64(1500, "ms")
    births = np.array(["1990-05-01", "1995-01-01", "1999-12-31", "1992-02-29"], dtype="datetime64[s]")
    if epoch:
        signed_up, born = _millis(signups), _seconds(births)
        event_time, quoted_at = _seconds(created), _seconds(quoted)
    else:
        signed_up, born, event_time, quoted_at = (pa.array(a) for a in (signups, births, created, quoted))
    orders = {
        "order_id": list(range(n)),
        "customer_id": rng.integers(1, 5, n).tolist(),
        "event_time": event_time,
        "quoted_at": quoted_at,
        "amount": rng.uniform(1, 100, n).round(2).tolist(),
    }
    return _db(
        make,
        {
            "customers": {"customer_id": [1, 2, 3, 4], "signed_up_at": signed_up, "birth_date": born},
            "orders": orders,
        },
    )


@pytest.mark.parametrize(
    "query",
    [
        "PREDICT COUNT(orders.*, 0, 30, days) FOR EACH customers.customer_id",
        "PREDICT SUM(orders.amount, 0, 14, days) > 50 FOR EACH customers.customer_id",
    ],
)
def test_epoch_shop_gives_the_same_task_as_timestamp_shop(source_factory, query: str) -> None:
    from relgraph.query import build_task

    epoch, real = _shop(source_factory, epoch=True), _shop(source_factory, epoch=False)
    for table in ("customers", "orders"):
        assert [c.stype for c in epoch.schema[table].columns] == [c.stype for c in real.schema[table].columns]
        np.testing.assert_array_equal(epoch.row_times(table), real.row_times(table))
    got, want = build_task(epoch, query), build_task(real, query)
    for split in ("train", "val", "test"):
        assert len(getattr(want, split))
        pd.testing.assert_frame_equal(getattr(got, split), getattr(want, split))


def test_epoch_shop_gives_the_same_graph_and_lightgbm_features(source_factory) -> None:
    from relgraph.baselines.aggregates import TemporalFeatureBuilder
    from relgraph.graph import build_graph
    from relgraph.query import build_task

    # The numeric orders.amount also covers a fixed bug: a fetchone() result left open in
    # TemporalFeatureBuilder._fit_stream made DuckDB 2 refuse the next register.
    epoch, real = _shop(source_factory, True), _shop(source_factory, False)
    graphs = build_graph(epoch, cache_dir=None), build_graph(real, cache_dir=None)
    for table in ("customers", "orders"):
        np.testing.assert_array_equal(graphs[0].node_time[table], graphs[1].node_time[table])
        np.testing.assert_array_equal(
            graphs[0].features[table].timestamp, graphs[1].features[table].timestamp
        )
    assert graphs[0].features["orders"].timestamp_names == ["event_time", "quoted_at"]
    frame = build_task(real, "PREDICT COUNT(orders.*, 0, 30, days) FOR EACH customers.customer_id").train
    builder = {"depth": 1, "windows": [30], "last_n": (1,), "max_features": None}
    got = TemporalFeatureBuilder(**builder).fit_transform(epoch, "customers", frame)
    want = TemporalFeatureBuilder(**builder).fit_transform(real, "customers", frame)
    assert {"customers.age_days", "customers.birth_date.age_days", "orders.days_since_last"} <= set(
        want.columns
    )
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize(
    "condition",
    ["customers.signed_up_at < '2021-12-25'", "LAST(orders.quoted_at, -30, 0, days) > '2022-03-01'"],
)
def test_query_conditions_compare_epoch_columns_with_dates(source_factory, condition: str) -> None:
    """An epoch column is a time in PQL too: compared with a date, never refused as a number."""
    from relgraph.query import build_task

    query = f"PREDICT COUNT(orders.*, 0, 30, days) FOR EACH customers.customer_id WHERE {condition}"
    got, want = build_task(_shop(source_factory, True), query), build_task(_shop(source_factory, False), query)
    assert sum(len(getattr(want, split)) for split in ("train", "val", "test"))
    for split in ("train", "val", "test"):
        pd.testing.assert_frame_equal(getattr(got, split), getattr(want, split))
