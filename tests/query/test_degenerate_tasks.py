"""Cutoffs from where the label events are, and no silent empty or single-class task.

The fixture is modelled on a Stack Exchange dump read as CSV: Users (Id, CreationDate,
LastAccessDate) and Posts (Id, OwnerUserId, PostTypeId, CreationDate); the site is active in
2010-2013, and three posts carry a 2023 date (stray late rows, e.g. a re-import).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relgraph
from relgraph.cli.main import main
from relgraph.errors import QueryError
from relgraph.query import build_task
from relgraph.query.parser import parse
from relgraph.query.splits import label_events, plan_splits

ACTIVE = "PREDICT COUNT(Posts.*, 0, 90, days) > 0 FOR EACH Users.Id"


def write_site(folder: Path, stray: bool = True, early: bool = False) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir()
    created = pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.integers(0, 540, 40), unit="D")
    users = pd.DataFrame({"Id": range(1, 41), "CreationDate": created.sort_values()})
    owners = rng.integers(1, 41, 600)
    when = users.set_index("Id").loc[owners, "CreationDate"].to_numpy() + pd.to_timedelta(
        rng.integers(0, 1200, 600), unit="D"
    )
    posts = pd.DataFrame({"Id": range(1, 601), "OwnerUserId": owners, "PostTypeId": rng.integers(1, 3, 600),
                          "CreationDate": when})
    posts = posts[posts["CreationDate"] < pd.Timestamp("2014-01-01")]  # the site's active years
    if stray:
        late = pd.DataFrame({"Id": [601, 602, 603], "OwnerUserId": [1, 2, 3], "PostTypeId": [1, 1, 2],
                             "CreationDate": pd.to_datetime(["2023-03-01", "2023-03-02", "2023-04-11"])})
        posts = pd.concat([posts, late])
    if early:  # epoch-zero dates, as a broken export writes missing ones
        zero = pd.DataFrame({"Id": [701, 702], "OwnerUserId": [4, 5], "PostTypeId": [1, 1],
                             "CreationDate": pd.to_datetime(["1970-01-01", "1970-01-01"])})
        posts = pd.concat([posts, zero])
    last = posts.groupby("OwnerUserId")["CreationDate"].max()
    users["LastAccessDate"] = users["Id"].map(last).fillna(users["CreationDate"])
    users.to_csv(folder / "Users.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
    posts.to_csv(folder / "Posts.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
    return folder


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site(tmp_path / "site")


def test_default_cutoffs_leave_out_stray_late_rows(site: Path) -> None:
    db = relgraph.connect(site)
    plan = plan_splits(db, parse(ACTIVE))
    assert plan.data_end < pd.Timestamp("2014-01-01")
    assert plan.test_cutoff < pd.Timestamp("2014-01-01") and max(plan.timestamps["test"]) < pd.Timestamp("2014-01-01")
    assert "3 later row(s), up to 2023-04-11" in plan.reason
    task = build_task(db, ACTIVE)
    for split in ("val", "test"):  # representative: both classes
        assert set(task.split(split)["label"]) == {0, 1}


def test_without_strays_the_end_is_the_last_row(tmp_path: Path) -> None:
    db = relgraph.connect(write_site(tmp_path / "clean", stray=False))
    plan = plan_splits(db, parse(ACTIVE))
    assert "the latest Posts row" in plan.reason and "left out" not in plan.reason


def test_early_strays_do_not_stretch_the_span(tmp_path: Path) -> None:
    db = relgraph.connect(write_site(tmp_path / "early", early=True))
    events = label_events(db, parse(ACTIVE))
    assert events.start >= pd.Timestamp("2010-01-01") and events.end < pd.Timestamp("2014-01-01")
    assert events.strays == 3


def test_query_prints_how_it_chose_the_cutoffs(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", str(site), ACTIVE]) == 0
    out = capsys.readouterr().out
    assert "cutoffs: test: the last" in out and "lie after a long gap and are left out" in out


@pytest.mark.parametrize(
    ("query", "kwargs", "message"),
    [
        (ACTIVE, {"val_cutoff": "2013-06-01", "test_cutoff": "2013-12-01"},
         "the test split has no timestamps: a label window of 90 days 00:00:00 from the test cutoff"),
        (ACTIVE, {"timestamps": {"train": ["2009-06-01"], "val": ["2012-01-01"], "test": ["2012-06-01"]}, "check": True},
         "the train split is empty (1 timestamps, 2009-06-01 00:00:00): no Users row exists yet"),
        (f"{ACTIVE} WHERE COUNT(Posts.*, -30, 0, days) > 50", {},
         "WHERE COUNT(Posts.*, -30, 0, days) > 50 removes every Users at those timestamps"),
        ("PREDICT COUNT(Posts.*, 0, 90, days) > 100 FOR EACH Users.Id", {},
         "every train label is 0"),
        (ACTIVE, {"timestamps": {"train": ["2011-01-01"], "val": ["2012-01-01"], "test": ["2014-01-15"]}, "check": True},
         "every test label is 0 (40 rows, 2014-01-15 00:00:00), so there is nothing to learn or score: the label "
         "windows (up to 2014-04-15 00:00:00) run past the data, whose label rows end at 2013-12-"),
    ],
)
def test_degenerate_splits_say_why_and_what_to_change(site: Path, query: str, kwargs: dict, message: str) -> None:
    db = relgraph.connect(site)
    with pytest.raises(QueryError, match=re.escape(message)):
        build_task(db, query, **kwargs)


def test_an_entity_time_later_than_its_events_is_named(site: Path, tmp_path: Path) -> None:
    schema = tmp_path / "late.toml"
    schema.write_text('[tables.Users]\ntime = "LastAccessDate"\n')
    db = relgraph.connect(site, schema=schema)
    with pytest.raises(QueryError, match=r"older than their Users row.*Users\.LastAccessDate looks like a last-activity"):
        build_task(db, ACTIVE)


def test_given_timestamps_are_checked_on_request_only(site: Path) -> None:
    stamps = {"train": ["2009-06-01"], "val": ["2012-01-01"], "test": ["2012-06-01"]}
    assert build_task(relgraph.connect(site), ACTIVE, timestamps=stamps).train.empty


def test_out_writes_nothing_when_the_task_is_degenerate(site: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tables"
    code = main(["query", str(site), "PREDICT COUNT(Posts.*, 0, 90, days) > 100 FOR EACH Users.Id", "--out", str(out)])
    assert code != 0 and not out.exists()
    assert "every train label is 0" in capsys.readouterr().err
