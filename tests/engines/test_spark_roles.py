"""Roles on Spark: an event table naming the entity in several foreign keys (matches.winner_id /
loser_id) gives DuckDB's rows, by default (every role, a row once per entity) and with VIA."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from query_fixtures import FIXED_MATCHES, day, matches_db, matches_frame

from relgraph.database import Database
from relgraph.engines import engine_for
from relgraph.query import make_training_table

pytestmark = pytest.mark.spark

QUERIES = [
    "PREDICT COUNT(matches.*, 0, 30, days) > 0 FOR EACH players.player_id",
    "PREDICT SUM(matches.score VIA loser_id, 0, 30, days) FOR EACH players.player_id "
    "WHERE COUNT(matches.*, -30, 0, days) > 0",
    "PREDICT COUNT_DISTINCT(matches.loser_id, 0, 60, days) FOR EACH players.player_id "
    "ASSUMING COUNT(matches.* VIA matches.winner_id, 0, 60, days) >= 1",
    "PREDICT LAST(matches.score WHERE matches.score > 1, -1, 1, months) FOR EACH players.player_id",
    "PREDICT COUNT(bets.*, 0, 30, days) FOR EACH players.player_id",
]
STAMPS = [day(n) for n in range(-20, 60, 5)]


@pytest.fixture(scope="module")
def dbs(spark: Any) -> tuple[Database, Database]:
    return matches_db(matches_frame(FIXED_MATCHES)), matches_db(matches_frame(FIXED_MATCHES)).with_engine("spark")


@pytest.mark.parametrize("text", QUERIES)
def test_spark_gives_duckdb_rows_over_roles(dbs: tuple[Database, Database], text: str) -> None:
    duck, sparkdb = dbs
    expected = make_training_table(duck, text, STAMPS)
    mine = make_training_table(sparkdb, text, STAMPS)
    assert engine_for(sparkdb).name == "spark"
    assert len(expected) > 0
    pd.testing.assert_frame_equal(mine, expected)
