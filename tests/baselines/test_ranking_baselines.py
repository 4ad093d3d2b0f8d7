"""Ranking baselines: popularity / history lists computed by hand, leakage, LightGBM over candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import relgraph
from relgraph.baselines.ranking import (
    HistoryRanker,
    LightGBMRanker,
    PopularityRanker,
    evaluate_ranker,
    top_k_lists,
)
from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.query import build_task

T0 = pd.Timestamp("2024-01-01")
QUERY = "PREDICT LIST_DISTINCT(picks.item_id, 0, 10, days) RANK TOP 3 FOR EACH users.user_id"
SCHEMA = """
[tables.users]
primary_key = "user_id"
time = false
[tables.items]
primary_key = "item_id"
time = false
[tables.picks]
primary_key = "pick_id"
time = "picked_at"
foreign_keys = [
  { column = "user_id", references = "users.user_id" },
  { column = "item_id", references = "items.item_id" },
]
"""


def day(n: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=n)


def picks_database(folder: Path, picks: list[tuple[int, int, pd.Timestamp]], users: int = 3,
                   items: tuple[int, ...] = (10, 11, 12, 13)) -> Database:
    """users 1..users, items, and picks (user, item, time), as Parquet files read by relgraph."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"user_id": np.arange(1, users + 1), "name": [f"u{i}" for i in range(users)]}).to_parquet(folder / "users.parquet")
    pd.DataFrame({"item_id": list(items), "kind": ["a", "b"] * (len(items) // 2) + ["a"] * (len(items) % 2)}).to_parquet(
        folder / "items.parquet")
    frame = pd.DataFrame(picks, columns=["user_id", "item_id", "picked_at"])
    frame.insert(0, "pick_id", np.arange(len(frame)))
    frame["picked_at"] = frame["picked_at"].astype("datetime64[ns]")
    frame.to_parquet(folder / "picks.parquet")
    (folder / "schema.toml").write_text(SCHEMA)
    return relgraph.connect(folder, schema=folder / "schema.toml")


HAND_PICKS = [
    (1, 10, day(1)), (1, 10, day(2)), (1, 11, day(8)),
    (2, 12, day(9)), (2, 11, day(9.5)), (2, 13, day(-5)),
    (3, 13, day(3)), (3, 11, day(0.5)),
    # after t = day 10: the labels, never features
    (1, 12, day(12)), (2, 10, day(14)), (3, 11, day(15)),
]


@pytest.fixture()
def hand_db(tmp_path: Path) -> Database:
    return picks_database(tmp_path / "hand", HAND_PICKS)


def hand_task(db: Database) -> object:
    return build_task(db, QUERY, timestamps={"train": [day(0)], "val": [day(5)], "test": [day(10)]})


def rows_at(t: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [1, 2, 3], "timestamp": [t] * 3})


def test_popularity_by_hand(hand_db: Database) -> None:
    ranker = PopularityRanker().fit(hand_db, hand_task(hand_db))
    ids = ranker.predict(hand_db, rows_at(day(10)))
    # (day 0, day 10]: item 11 x3, item 10 x2, items 12 and 13 x1 each; 13 has one more pick within
    # four windows (day -5), so it beats 12.
    assert ids.tolist() == [[11, 10, 13]] * 3


def test_history_frequency_and_recency_by_hand(hand_db: Database) -> None:
    task = hand_task(hand_db)
    frequency = HistoryRanker("frequency").fit(hand_db, task).predict(hand_db, rows_at(day(10)))
    # user 1: 10 (x2), 11; back-filled with popular 13.  user 2: one pick each, latest first.
    # user 3: 13 (day 3), 11 (day 0.5), back-filled with 10.
    assert frequency.tolist() == [[10, 11, 13], [11, 12, 13], [13, 11, 10]]
    recency = HistoryRanker("recency").fit(hand_db, task).predict(hand_db, rows_at(day(10)))
    assert recency.tolist() == [[11, 10, 13], [11, 12, 13], [13, 11, 10]]


def test_metrics_on_hand_labels(hand_db: Database) -> None:
    task = hand_task(hand_db)
    # labels at day 10: user 1 -> [12], user 2 -> [10], user 3 -> [11]
    assert task.test["label"].tolist() == [[12], [10], [11]]
    metrics = evaluate_ranker(HistoryRanker().fit(hand_db, task), hand_db, task.test, 3)
    # user 3 hits at place 2 (AP 1/2); users 1 and 2 miss.
    assert metrics["map@k"] == pytest.approx(0.5 / 3)
    assert metrics["recall@k"] == pytest.approx(1 / 3)


def test_top_k_lists_prefers_first_source_and_pads() -> None:
    ids, scores = top_k_lists(np.array([0, 0, 0, 1]), np.array([5, 6, 5, 7]), np.array([1.0, 2.0, 3.0, 1.0]), 2, 3)
    assert ids.tolist() == [[6, 5, None], [7, None, None]]
    assert np.isnan(scores[1, 1])


def test_not_a_ranking_task(hand_db: Database) -> None:
    task = build_task(hand_db, "PREDICT COUNT(picks.*, 0, 10, days) > 0 FOR EACH users.user_id",
                      timestamps={"train": [day(0)], "val": [day(5)], "test": [day(10)]})
    with pytest.raises(ModelError, match="ranks targets"):
        PopularityRanker().fit(hand_db, task)


def random_picks(seed: int, users: int = 12, items: int = 8, days: int = 120) -> list[tuple[int, int, pd.Timestamp]]:
    """Each user re-picks a favourite item most of the time: history beats popularity."""
    rng = np.random.default_rng(seed)
    favourite = rng.integers(0, items, users)
    out = []
    for u in range(users):
        times = np.sort(rng.uniform(0, days, rng.integers(5, 25)))
        choice = np.where(rng.random(len(times)) < 0.7, favourite[u], rng.integers(0, items, len(times)))
        out += [(u + 1, 10 + int(c), day(float(t))) for t, c in zip(times, choice)]
    return out


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), cut_day=st.floats(20, 100))
def test_candidate_features_ignore_rows_after_t(tmp_path_factory: pytest.TempPathFactory, seed: int, cut_day: float) -> None:
    folder = tmp_path_factory.mktemp("leak")
    db = picks_database(folder, random_picks(seed), users=12, items=tuple(range(10, 18)))
    t = day(cut_day)
    task = build_task(db, QUERY, timestamps={"train": [day(10)], "val": [day(15)], "test": [day(20)]})
    ranker = LightGBMRanker()
    ranker._fit_spec(db, task)  # candidates need only the query's spec
    frame = pd.DataFrame({"user_id": np.arange(1, 13), "timestamp": t})
    full = ranker.candidates(db, frame)
    cut = ranker.candidates(db.cut(np.datetime64(t)), frame)
    for a, b in zip(full, cut):
        np.testing.assert_array_equal(a, b)
    for rule in (PopularityRanker(), HistoryRanker("recency")):
        rule.fit(db, task)
        assert rule.predict(db, frame).tolist() == rule.predict(db.cut(np.datetime64(t)), frame).tolist()


def test_lightgbm_ranker_learns_repeats_and_round_trips(tmp_path: Path) -> None:
    db = picks_database(tmp_path / "random", random_picks(7, users=40), users=40, items=tuple(range(10, 18)))
    task = build_task(db, QUERY.replace("TOP 3", "TOP 2"),
                      timestamps={"train": [day(d) for d in range(20, 80, 5)], "val": [day(85), day(90)],
                                  "test": [day(100), day(105)]})
    ranker = LightGBMRanker(seed=0).fit(db, task)
    learned = evaluate_ranker(ranker, db, task.test, 2)
    popular = evaluate_ranker(PopularityRanker().fit(db, task), db, task.test, 2)
    assert learned["map@k"] > popular["map@k"] + 0.1
    ranker.save(tmp_path / "model")
    again = LightGBMRanker.load(tmp_path / "model")
    ids, scores = ranker.rank(db, task.test)
    ids2, scores2 = again.rank(db, task.test)
    assert ids.tolist() == ids2.tolist()
    np.testing.assert_allclose(scores, scores2)
    with pytest.raises(ModelError, match="holds a"):
        PopularityRanker.load(tmp_path / "model")
