"""Implicit entity tables: id columns whose values no table lists (MovieLens ``ratings.userId``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from movielens_fixture import write_movielens

import relgraph
from relgraph.errors import SchemaError
from relgraph.graph import build_graph
from relgraph.schema import SType, schema_to_dict, write_schema
from relgraph.schema.entities import FIRST_SEEN, materialise


@pytest.fixture
def movielens(tmp_path: Path) -> Path:
    return write_movielens(tmp_path / "ml")


def _schema_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schema.toml"
    path.write_text(text)
    return path


def test_user_ids_without_a_users_table_become_one_table_from_first_appearance(movielens: Path) -> None:
    db = relgraph.connect(movielens)
    users = db.schema["userId"]
    assert users.implicit_from == ["ratings.userId", "tags.userId"]
    assert users.primary_key == "userId" and users.time is not None and users.time.column == FIRST_SEEN
    table = db.tables["userId"]
    assert table.column("userId").to_pylist() == [1, 2, 3, 4]
    first = pa.array(db.row_times("userId")).cast(pa.timestamp("s")).cast(pa.int64()).to_pylist()
    assert first == [964982703, 1045000000, 1100000000, 1300000000]  # user 4 only tags, in 2011
    for child in ("ratings", "tags"):
        fk = next(f for f in db.schema[child].foreign_keys if f.column == "userId")
        assert (fk.references_table, fk.references_column, fk.inferred) == ("userId", "userId", True)
        assert db.schema[child].column("userId").stype is SType.KEY
    assert any("made table 'userId'" in w for w in db.schema.warnings)
    # movieId has its table: an ordinary foreign key, no implicit table.
    assert "movieId" not in db.schema


def test_the_graph_passes_messages_through_the_made_table(movielens: Path, tmp_path: Path) -> None:
    graph = build_graph(relgraph.connect(movielens), cache_dir=tmp_path / "cache")
    assert graph.num_nodes["userId"] == 4
    edges = graph.edge_index[("ratings", "userId", "userId")]
    assert edges.shape == (2, 7)
    assert graph.node_time["userId"] is not None


def test_cut_keeps_only_entities_seen_by_then_with_the_same_first_appearance(movielens: Path) -> None:
    db = relgraph.connect(movielens)
    cutoff = np.datetime64("2005-01-01")
    cut = db.cut(cutoff)
    assert cut.tables["userId"].column("userId").to_pylist() == [1, 2, 3]
    # Built again from the rows before the cutoff alone: the same table (no future row shapes it).
    own = {name: cut.tables[name] for name in ("ratings", "movies", "tags")}
    rebuilt = materialise(own, cut.schema)["userId"]
    assert rebuilt.equals(cut.tables["userId"])
    assert np.array_equal(cut.row_times("userId"), db.row_times("userId")[:3])


def test_schema_file_turns_the_entity_off(movielens: Path, tmp_path: Path) -> None:
    db = relgraph.connect(movielens, schema=_schema_file(tmp_path, "[tables.userId]\nimplicit = false\n"))
    assert "userId" not in db.schema and "userId" not in db.tables
    assert db.schema["ratings"].column("userId").stype is not SType.KEY


def test_schema_file_names_the_table_and_picks_its_columns(movielens: Path, tmp_path: Path) -> None:
    path = _schema_file(tmp_path, '[tables.users]\nimplicit = ["ratings.userId"]\n')
    db = relgraph.connect(movielens, schema=path)
    assert db.schema["users"].implicit_from == ["ratings.userId"]
    assert db.tables["users"].column("userId").to_pylist() == [1, 2, 3]
    # tags.userId was inferred into the same entity; the file took ratings.userId, so it stands alone.
    assert db.schema["userId"].implicit_from == ["tags.userId"]


def test_written_schema_reads_back_to_the_same_schema(movielens: Path, tmp_path: Path) -> None:
    db = relgraph.connect(movielens)
    path = tmp_path / "written.toml"
    write_schema(db.schema, path)
    again = relgraph.connect(movielens, schema=path)
    assert schema_to_dict(again.schema) == schema_to_dict(db.schema)
    assert again.tables["userId"].equals(db.tables["userId"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tables.user]\nimplicit = false\n", "infers no implicit table 'user' (inferred: userId)"),
        ('[tables.movies]\nimplicit = ["ratings.userId"]\n', "movies is a table of the source"),
        ('[tables.users]\nimplicit = ["ratings.user"]\n', "column ratings.user does not exist (did you mean 'userId'?)"),
        ('[tables.users]\nimplicit = ["rating.userId"]\n', "names no table (did you mean 'ratings'?)"),
        ('[tables.films]\nimplicit = ["ratings.movieId"]\n', "ratings.movieId is already a key of ratings"),
        ('[tables.users]\nimplicit = "ratings.userId"\n', "expected false or a list of source columns"),
        ('[tables.users]\nimplicit = ["ratings.userId"]\nprimary_key = "uid"\n', "key is its values column 'userId'"),
    ],
)
def test_schema_file_errors_name_what_to_change(movielens: Path, tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        relgraph.connect(movielens, schema=_schema_file(tmp_path, text))


MATCHES = """tourney_id,tourney_date,winner_id,winner_name,loser_id,loser_name,score
2019-339,2018-12-31,104745,Rafael Nadal,105227,Marin Cilic,6-3 6-4
2019-339,2018-12-31,106233,Dominic Thiem,104745,Rafael Nadal,7-6 6-2
2019-580,2019-01-14,104925,Novak Djokovic,106233,Dominic Thiem,6-4 6-4
2019-580,2019-01-14,104745,Rafael Nadal,104925,Novak Djokovic,6-2 6-3
2019-580,2019-01-14,104925,Novak Djokovic,105227,Marin Cilic,6-1 6-1
"""


def test_two_roles_of_one_entity_merge_in_a_schema_file(tmp_path: Path) -> None:
    """ATP tennis (tourney_date as ISO here): winner_id and loser_id are both players; no players file."""
    folder = tmp_path / "atp"
    folder.mkdir()
    (folder / "matches.csv").write_text(MATCHES)
    path = _schema_file(
        tmp_path,
        '[tables.matches]\ntime = "tourney_date"\n\n'
        '[tables.players]\nimplicit = ["matches.winner_id", "matches.loser_id"]\n',
    )
    db = relgraph.connect(folder, schema=path)
    players = db.tables["players"]
    assert players.column_names == ["id", FIRST_SEEN]
    assert players.column("id").to_pylist() == [104745, 104925, 105227, 106233]
    assert {fk.column for fk in db.schema["matches"].foreign_keys} == {"winner_id", "loser_id"}


def test_codes_row_ids_and_words_ending_in_id_stay_columns(source_factory) -> None:
    from relgraph.schema import build_schema

    source = source_factory(
        {
            "posts": {
                "Id": [1, 2, 3, 4, 5, 6],
                "PostTypeId": [1, 2, 2, 1, 2, 3],  # a type code, not an entity
                "grid": [1, 1, 2, 3, 3, 4],  # ends in "id" but is no id
                "RevisionId": [11, 12, 13, 14, 15, 16],  # unique per row: identifies rows
                "FlagId": [1, 1, 2, 2, 1, 2],  # two values
                "OwnerUserId": [7, 7, 8, 9, 9, 7],  # an entity
                "CreationDate": [f"2020-01-0{i}" for i in range(1, 7)],
            }
        }
    )
    schema = build_schema(source)
    made = {name: t.implicit_from for name, t in schema.tables.items() if t.implicit_from}
    assert made == {"OwnerUserId": ["posts.OwnerUserId"]}


def test_ids_that_are_another_tables_keys_are_references_not_entities(tmp_path: Path) -> None:
    """ATP with its players file: winner_id holds player_id values under another name, so key
    inference makes it a reference by role (schema/keys.py) and no implicit table is made."""
    folder = tmp_path / "atp"
    folder.mkdir()
    (folder / "matches.csv").write_text(MATCHES)
    (folder / "players.csv").write_text(
        "player_id,name_first,name_last\n104745,Rafael,Nadal\n104925,Novak,Djokovic\n"
        "105227,Marin,Cilic\n106233,Dominic,Thiem\n"
    )
    db = relgraph.connect(folder)
    fks = {(fk.column, fk.references_table, fk.references_column) for fk in db.schema["matches"].foreign_keys}
    assert ("winner_id", "players", "player_id") in fks
    assert ("loser_id", "players", "player_id") in fks
    assert "winner_id" not in db.schema.tables and "loser_id" not in db.schema.tables
