"""Split timestamps: RelBench's conventions with given cutoffs, data-driven defaults, errors."""

from __future__ import annotations

import pandas as pd
import pytest
from query_fixtures import make_db

from relgraph.database import Database
from relgraph.errors import QueryError
from relgraph.query import build_task, split_timestamps


def _events_db(days: int = 400) -> Database:
    """One user, one event per day from 2020-01-01 for ``days`` days."""
    times = pd.date_range("2020-01-01", periods=days, freq="D")
    tables = {
        "users": pd.DataFrame({"id": [1]}),
        "events": pd.DataFrame({"eid": range(days), "uid": [1] * days, "at": times}),
    }
    return make_db(
        tables, {"users": "id", "events": "eid"}, {"events": [("uid", "users", "id")]}, {"events": "at"}
    )


QUERY = "PREDICT COUNT(events.*, 0, 30, days) FOR EACH users.id"


def test_given_cutoffs_follow_relbench() -> None:
    db = _events_db()
    stamps = split_timestamps(db, QUERY, val_cutoff="2020-09-01", test_cutoff="2020-11-01")
    step = pd.Timedelta(days=30)
    assert stamps["val"] == [
        pd.Timestamp("2020-09-01"),
        pd.Timestamp("2020-10-01"),
    ]  # t + 30 d <= test cutoff
    # The last row is on 2021-02-03, so test timestamps stop at 2021-01-04.
    assert stamps["test"] == [pd.Timestamp(d) for d in ("2020-11-01", "2020-12-01", "2020-12-31")]
    assert stamps["train"][-1] == pd.Timestamp("2020-09-01") - step
    assert stamps["train"][0] >= pd.Timestamp("2020-01-01") > stamps["train"][0] - step
    assert all(b - a == step for a, b in zip(stamps["train"], stamps["train"][1:]))


def test_at_most_forty_evaluation_timestamps() -> None:
    db = _events_db(days=2000)
    stamps = split_timestamps(
        db, "PREDICT COUNT(events.*, 0, 2, days) FOR EACH users.id", "2021-01-01", "2022-01-01"
    )
    assert len(stamps["val"]) == 40 and len(stamps["test"]) == 40


def test_default_cutoffs_are_the_last_windows() -> None:
    db = _events_db()
    stamps = split_timestamps(db, QUERY)
    last = pd.Timestamp("2020-01-01") + pd.Timedelta(days=399)
    # 10 % of the span in 30-day steps is one step: test is the last full window, val the one before.
    assert stamps["test"] == [last - pd.Timedelta(days=30)]
    assert stamps["val"] == [last - pd.Timedelta(days=60)]
    assert max(stamps["train"]) == last - pd.Timedelta(days=90)
    task = build_task(db, QUERY)
    assert task.test["label"].tolist() == [30.0] and task.extra["test_cutoff"] == last - pd.Timedelta(days=30)


def test_month_steps_keep_calendar_days() -> None:
    db = _events_db(days=800)
    stamps = split_timestamps(
        db, "PREDICT COUNT(events.*, 0, 1, months) FOR EACH users.id", "2021-01-31", "2021-06-30"
    )
    assert stamps["val"][:3] == [
        pd.Timestamp("2021-01-31"),
        pd.Timestamp("2021-02-28"),
        pd.Timestamp("2021-03-31"),
    ]
    assert stamps["train"][-1] == pd.Timestamp("2020-12-31")


@pytest.mark.parametrize(
    ("val", "test", "message"),
    [
        ("2020-11-01", "2020-09-01", "must be before test cutoff"),
        ("2019-01-01", "2020-09-01", r"no training timestamps.*\(in events\.at\)"),
        ("not a date", "2020-09-01", "is not a timestamp"),
    ],
)
def test_bad_cutoffs(val: str, test: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        split_timestamps(_events_db(), QUERY, val, test)


def test_explicit_timestamps_override_cutoffs() -> None:
    db = _events_db()
    task = build_task(
        db, QUERY, timestamps={"train": ["2020-02-01"], "val": ["2020-05-01"], "test": ["2020-08-01"]}
    )
    assert [len(task.split(s)) for s in ("train", "val", "test")] == [1, 1, 1]
    with pytest.raises(QueryError, match="lack the split"):
        build_task(db, QUERY, timestamps={"train": ["2020-02-01"]})


@pytest.mark.parametrize(
    "text",
    [
        "PREDICT COUNT(events.*, 7, 37, days) FOR EACH users.id",
        "PREDICT COUNT(events.*, 0, 2, weeks) FOR EACH users.id",
        "PREDICT COUNT(events.*, -30, 0, days) FOR EACH users.id",
        "PREDICT COUNT(events.*, 0, 1, months) FOR EACH users.id",
    ],
)
def test_label_windows_never_cross_the_next_cutoff(text: str) -> None:
    from relgraph.query import parse
    from relgraph.query.splits import plan_splits

    db = _events_db(days=700)
    for cutoffs in ((None, None), ("2020-10-01", "2021-06-01")):
        split_plan = plan_splits(db, parse(text), *cutoffs)
        window = parse(text).target.window
        offset = (
            pd.DateOffset(months=window.end)
            if window.unit == "months"
            else pd.Timedelta(**{window.unit: max(window.end, 0)})
        )
        stamps = split_plan.timestamps
        assert stamps["train"] and stamps["val"] and stamps["test"]
        assert max(stamps["train"]) + offset <= split_plan.val_cutoff
        assert max(stamps["val"]) + offset <= split_plan.test_cutoff
        assert max(stamps["test"]) + offset <= pd.Timestamp("2020-01-01") + pd.Timedelta(days=699)
        assert split_plan.val_cutoff < split_plan.test_cutoff


def test_a_year_window_is_twelve_months() -> None:
    """``years`` (seasons of yearly statistics) steps and labels exactly as 12 ``months``."""
    db = _events_db(days=2000)
    years = build_task(db, "PREDICT COUNT(events.*, 0, 1, years) FOR EACH users.id")
    months = build_task(db, "PREDICT COUNT(events.*, 0, 12, months) FOR EACH users.id")
    for split in ("train", "val", "test"):
        pd.testing.assert_frame_equal(years.split(split), months.split(split))
    assert len(years.split("train")) >= 2 and years.split("train")["label"].iloc[-1] == 365
