"""``FOR EACH ratings.userId``: predicting for the entities a column names when they have no table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from movielens_fixture import write_movielens

import relgraph
from relgraph.errors import QueryError
from relgraph.query import make_training_table, parse, validate

STAMPS = ["2000-01-01", "2004-01-01", "2008-01-01", "2011-01-01"]


@pytest.fixture
def movielens(tmp_path: Path) -> relgraph.Database:
    return relgraph.connect(write_movielens(tmp_path / "ml"))


def test_for_each_a_child_column_means_the_entities_it_references(movielens: relgraph.Database) -> None:
    resolved = validate(parse("PREDICT COUNT(ratings.*, 0, 1000, days) > 0 FOR EACH ratings.userId"), movielens.schema)
    assert (resolved.entity_table, resolved.entity_key) == ("userId", "userId")
    by_column = make_training_table(movielens, "PREDICT COUNT(ratings.*, 0, 1000, days) FOR EACH ratings.userId", STAMPS)
    by_table = make_training_table(movielens, "PREDICT COUNT(ratings.*, 0, 1000, days) FOR EACH userId.userId", STAMPS)
    pd.testing.assert_frame_equal(by_column, by_table)


def test_an_implicit_entity_exists_from_its_first_appearance_only(movielens: relgraph.Database) -> None:
    frame = make_training_table(movielens, "PREDICT COUNT(tags.*, 0, 5000, days) FOR EACH ratings.userId", STAMPS)
    seen = frame.groupby("timestamp")["userId"].apply(sorted).to_dict()
    assert seen == {
        pd.Timestamp("2004-01-01"): [1, 2],  # user 1 rated in 2000 (after 2000-01-01 00:00), user 2 in 2003
        pd.Timestamp("2008-01-01"): [1, 2, 3],
        pd.Timestamp("2011-01-01"): [1, 2, 3],  # user 4 first appears (a tag) in 2011-03
    }


def test_for_each_a_plain_column_of_a_keyless_table_says_how_to_make_it_an_entity(
    movielens: relgraph.Database,
) -> None:
    with pytest.raises(QueryError, match=r'declare \[tables.rating\] implicit = \["ratings.rating"\]'):
        validate(parse("PREDICT COUNT(ratings.*, 0, 30, days) > 0 FOR EACH ratings.rating"), movielens.schema)


def test_for_each_a_foreign_key_of_a_real_table(movielens: relgraph.Database) -> None:
    resolved = validate(parse("PREDICT COUNT(ratings.*, 0, 30, days) FOR EACH tags.movieId"), movielens.schema)
    assert (resolved.entity_table, resolved.entity_key) == ("movies", "movieId")
