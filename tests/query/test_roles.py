"""An event table that names the entity in several roles (matches.winner_id / loser_id).

By default a row belongs to every entity any role names, once per row (a self-match counts once);
``VIA [table.]column`` picks one role. Labels, WHERE and ASSUMING are checked against pandas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from query_fixtures import FIXED_MATCHES, PLAYERS, ROLES, day, make_db, matches_db, matches_frame

from relgraph.cli.main import main
from relgraph.database import Database
from relgraph.errors import QueryError
from relgraph.query import make_training_table, parse, plan, plan_sql, validate
from relgraph.query.ast import Role


@pytest.fixture()
def tennis() -> Database:
    return matches_db(matches_frame(FIXED_MATCHES))


def role_values(
    matches: pd.DataFrame,
    t: pd.Timestamp,
    start: int,
    end: int,
    roles: tuple[str, ...] = ROLES,
    column: str | None = None,
    players: list[int] = PLAYERS,
) -> dict[int, list]:
    """pandas: per player, the values (``column``, or one per row) of the rows in ``(t+start, t+end]``
    naming the player in any of ``roles``, each row once."""
    lo, hi = t + pd.Timedelta(days=start), t + pd.Timedelta(days=end)
    window = matches[(matches["played_at"] > lo) & (matches["played_at"] <= hi)]
    out: dict[int, list] = {p: [] for p in players}
    for _, row in window.iterrows():
        named = {int(row[r]) for r in roles if not pd.isna(row[r])}
        for player in named:
            out[player].append(1 if column is None else row[column])
    return out


def labels(db: Database, text: str, times: list[pd.Timestamp]) -> dict[tuple[int, pd.Timestamp], float]:
    frame = make_training_table(db, text, times)
    return {
        (int(k), pd.Timestamp(t)): v
        for k, t, v in frame[["player_id", "timestamp", "label"]].itertuples(index=False)
    }


TIMES = [day(0), day(20), day(40)]


def test_target_counts_every_role_once_per_row(tennis: Database) -> None:
    matches = matches_frame(FIXED_MATCHES)
    got = labels(tennis, "PREDICT COUNT(matches.*, 0, 30, days) FOR EACH players.player_id", TIMES)
    want = {(p, t): float(len(v)) for t in TIMES for p, v in role_values(matches, t, 0, 30).items()}
    assert got == want
    assert got[(3, day(0))] == 1.0  # the self-match counts once
    assert got[(4, day(0))] == 2.0  # the match without a winner still belongs to its loser


@pytest.mark.parametrize("role", ROLES)
def test_via_counts_one_role(tennis: Database, role: str) -> None:
    matches = matches_frame(FIXED_MATCHES)
    for text in (
        f"PREDICT COUNT(matches.* VIA {role}, 0, 30, days) FOR EACH players.player_id",
        f"PREDICT COUNT(matches.* VIA matches.{role}, 0, 30, days) FOR EACH players.player_id",
    ):
        got = labels(tennis, text, TIMES)
        want = {
            (p, t): float(len(v)) for t in TIMES for p, v in role_values(matches, t, 0, 30, (role,)).items()
        }
        assert got == want, text


def test_where_and_assuming_use_the_roles(tennis: Database) -> None:
    matches = matches_frame(FIXED_MATCHES)
    text = (
        "PREDICT SUM(matches.score, 0, 30, days) FOR EACH players.player_id "
        "WHERE COUNT(matches.*, -30, 0, days) > 0 ASSUMING COUNT(matches.* VIA loser_id, 0, 30, days) >= 1"
    )
    got = labels(tennis, text, TIMES)
    want = {}
    for t in TIMES:
        past = role_values(matches, t, -30, 0)
        lost = role_values(matches, t, 0, 30, ("loser_id",))
        scores = role_values(matches, t, 0, 30, column="score")
        for p in PLAYERS:
            if past[p] and lost[p]:
                want[(p, t)] = float(sum(scores[p]))
    assert want and got == want


def test_two_hop_roles_and_their_via(tennis: Database) -> None:
    # bets -> matches -> players: a bet belongs to both players of its match
    matches = matches_frame(FIXED_MATCHES)
    got = labels(tennis, "PREDICT COUNT(bets.*, 0, 30, days) FOR EACH players.player_id", TIMES)
    assert got == {(p, t): float(len(v)) for t in TIMES for p, v in role_values(matches, t, 0, 30).items()}
    got = labels(
        tennis, "PREDICT COUNT(bets.* VIA matches.winner_id, 0, 30, days) FOR EACH players.player_id", TIMES
    )
    assert got == {
        (p, t): float(len(v))
        for t in TIMES
        for p, v in role_values(matches, t, 0, 30, ("winner_id",)).items()
    }


def test_an_aggregated_role_column_names_the_other_party(tennis: Database) -> None:
    # COUNT_DISTINCT(matches.loser_id): the players one beats, through the winner role only
    matches = matches_frame(FIXED_MATCHES)
    got = labels(
        tennis, "PREDICT COUNT_DISTINCT(matches.loser_id, 0, 60, days) FOR EACH players.player_id", [day(0)]
    )
    beaten = role_values(matches, day(0), 0, 60, ("winner_id",), column="loser_id")
    assert got == {(p, day(0)): float(len(set(v))) for p, v in beaten.items()}
    resolved = validate(
        parse("PREDICT COUNT_DISTINCT(matches.loser_id, 0, 60, days) FOR EACH players.player_id"),
        tennis.schema,
    )
    assert [[h.fk_column for h in path] for paths in resolved.routes.values() for path in paths] == [
        ["winner_id"]
    ]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(PLAYERS)),
            st.one_of(st.none(), st.sampled_from(PLAYERS)),
            st.integers(-40, 60),
            st.integers(0, 9),
        ),
        max_size=25,
    ),
    st.sampled_from([None, *ROLES]),
)
def test_labels_equal_pandas_over_random_match_tables(rows: list, role: str | None) -> None:
    matches = matches_frame(rows)
    db = matches_db(matches)
    via = "" if role is None else f" VIA {role}"
    text = f"PREDICT COUNT(matches.*{via}, 0, 30, days) FOR EACH players.player_id WHERE COUNT(matches.*, -30, 0, days) >= 0"
    roles = ROLES if role is None else (role,)
    times = [day(-10), day(15)]
    want = {(p, t): float(len(v)) for t in times for p, v in role_values(matches, t, 0, 30, roles).items()}
    assert labels(db, text, times) == want
    total = labels(db, f"PREDICT SUM(matches.score{via}, -30, 30, days) FOR EACH players.player_id", times)
    want_total = {
        (p, t): float(sum(v))
        for t in times
        for p, v in role_values(matches, t, -30, 30, roles, "score").items()
    }
    assert total == want_total


def test_cutting_the_future_keeps_earlier_labels(tennis: Database) -> None:
    text = "PREDICT COUNT(matches.*, 0, 10, days) > 0 FOR EACH players.player_id WHERE COUNT(matches.* VIA winner_id, -30, 0, days) >= 0"
    for t in (0, 5, 20, 35):
        full = make_training_table(tennis, text, [day(t)])
        cut = make_training_table(tennis.cut(day(t + 10).to_datetime64()), text, [day(t)])
        pd.testing.assert_frame_equal(full, cut)
        # what the entity did up to t (every role, and one) is all there is at t
        past = "PREDICT SUM(matches.score, -30, 0, days) FOR EACH players.player_id WHERE COUNT(matches.* VIA loser_id, -60, 0, days) > 0"
        pd.testing.assert_frame_equal(
            make_training_table(tennis, past, [day(t)]),
            make_training_table(tennis.cut(day(t).to_datetime64()), past, [day(t)]),
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("COUNT(matches.* VIA winner_id, 0, 30, days)", Role("winner_id")),
        (
            'COUNT(matches.* VIA "matches".loser_id WHERE matches.score > 1, 0, 30, days)',
            Role("loser_id", "matches"),
        ),
        ("COUNT(matches.* WHERE matches.score > 1 VIA winner_id, 0, 30, days)", Role("winner_id")),
    ],
)
def test_via_parses_and_round_trips(text: str, expected: Role) -> None:
    query = parse(f"PREDICT {text} FOR EACH players.player_id")
    assert query.target.via == expected
    assert parse(str(query)) == query
    assert " VIA " in str(query)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "COUNT(matches.* VIA 3, 0, 30, days)",
            "expected a role after VIA: a foreign-key column, e.g. VIA matches.<column>",
        ),
        ("COUNT(matches.* VIA winner_id VIA loser_id, 0, 30, days)", "one VIA per aggregate"),
        ("COUNT(matches.* VIA winner_id 0, 30, days)", "expected WHERE or ',' (then the window), found '0'"),
    ],
)
def test_via_syntax_errors_point_at_the_token(text: str, expected: str) -> None:
    with pytest.raises(QueryError) as err:
        parse(f"PREDICT {text} FOR EACH players.player_id")
    assert expected in str(err.value)
    assert "(line 1, column" in str(err.value) and "^" in str(err.value)


@pytest.mark.parametrize(
    ("via", "expected"),
    [
        (
            "winer_id",
            "VIA winer_id in COUNT(matches.* VIA winer_id, 0, 30, days) is not a foreign key on a path "
            "from matches to players; its roles: matches.winner_id, matches.loser_id; did you mean VIA winner_id?",
        ),
        ("score", "its roles: matches.winner_id, matches.loser_id"),
        ("bets.match_id", "its roles: matches.winner_id, matches.loser_id"),
    ],
)
def test_a_role_that_is_not_on_a_path_lists_the_roles(tennis: Database, via: str, expected: str) -> None:
    with pytest.raises(QueryError) as err:
        validate(
            parse(f"PREDICT COUNT(matches.* VIA {via}, 0, 30, days) FOR EACH players.player_id"),
            tennis.schema,
        )
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_ranking_reads_one_role_and_leaves_out_the_ranked_one() -> None:
    accounts = pd.DataFrame({"account_id": [1, 2, 3]})
    transfers = pd.DataFrame(
        {
            "transfer_id": [1, 2, 3, 4],
            "from_id": [1, 1, 2, 3],
            "to_id": [2, 3, 1, 1],
            "to_backup_id": [3, 2, 3, 2],
            "sent_at": [day(1), day(2), day(3), day(4)],
        }
    )
    fks = [("from_id", "accounts", "account_id"), ("to_id", "accounts", "account_id")]
    db = make_db(
        {"accounts": accounts, "transfers": transfers},
        {"accounts": "account_id", "transfers": "transfer_id"},
        {"transfers": fks},
        {"transfers": "sent_at"},
    )
    frame = make_training_table(
        db,
        "PREDICT LIST_DISTINCT(transfers.to_id, 0, 10, days) RANK TOP 2 FOR EACH accounts.account_id",
        [day(0)],
    )
    assert dict(zip(frame["account_id"], frame["label"].map(list), strict=True)) == {
        1: [2, 3],
        2: [1],
        3: [1],
    }
    three = make_db(
        {"accounts": accounts, "transfers": transfers},
        {"accounts": "account_id", "transfers": "transfer_id"},
        {"transfers": [*fks, ("to_backup_id", "accounts", "account_id")]},
        {"transfers": "sent_at"},
    )
    with pytest.raises(
        QueryError,
        match="ranks for one role at a time.*choose one: VIA transfers.from_id, VIA transfers.to_backup_id",
    ):
        validate(
            parse(
                "PREDICT LIST_DISTINCT(transfers.to_id, 0, 10, days) RANK TOP 2 FOR EACH accounts.account_id"
            ),
            three.schema,
        )
    chosen = validate(
        parse(
            "PREDICT LIST_DISTINCT(transfers.to_id VIA from_id, 0, 10, days) RANK TOP 2 FOR EACH accounts.account_id"
        ),
        three.schema,
    )
    assert [h.fk_column for h in next(iter(chosen.routes.values()))[0]] == ["from_id"]


def test_explain_names_the_roles(tennis: Database) -> None:
    text = plan_sql(
        tennis,
        "PREDICT COUNT(matches.*, 0, 30, days) > 0 FOR EACH players.player_id WHERE COUNT(matches.* VIA winner_id, -30, 0, days) > 0",
    )
    assert (
        "-- roles: matches rows belong to the players row they name via matches.winner_id or matches.loser_id "
        "(a row naming it in several roles counts once)" in text
    )
    assert "-- roles: matches rows belong to the players row they name via matches.winner_id\n" in text
    single = plan(
        tennis.schema, parse("PREDICT COUNT(matches.* VIA loser_id, 0, 30, days) FOR EACH players.player_id")
    )
    assert "CASE" not in single.sql and "VALUES" not in single.sql  # one role: the plain one-path plan


def test_query_cli_on_a_csv_folder_counts_both_roles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The class as a user brings it: CSV files, references inferred from the values (role names).
    rng = np.random.default_rng(0)
    folder = tmp_path / "tennis"
    folder.mkdir()
    pd.DataFrame({"player_id": range(1, 13), "hand": rng.choice(["L", "R"], 12)}).to_csv(
        folder / "players.csv", index=False
    )
    days = np.sort(rng.integers(0, 300, 60))
    rows = [
        (int(w), int(lo), int(d), 1.0)
        for w, lo, d in zip(rng.integers(1, 13, 60), rng.integers(1, 13, 60), days, strict=True)
    ]
    matches = matches_frame(rows).drop(columns="score")
    matches.to_csv(folder / "matches.csv", index=False)
    text = "PREDICT COUNT(matches.*, 0, 14, days) > 0 FOR EACH players.player_id"
    assert main(["query", str(folder), text, "--explain", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert (
        "-- roles: matches rows belong to the players row they name via matches.winner_id or matches.loser_id"
        in printed
    )
    assert "\nroles: matches rows belong to the players row" in printed  # also beside the task line
    train = pd.read_parquet(tmp_path / "out" / "train.parquet")
    assert len(train) > 0
    for player, t, label in train[["player_id", "timestamp", "label"]].itertuples(index=False):
        named = role_values(matches, pd.Timestamp(t), 0, 14, players=list(range(1, 13)))[int(player)]
        assert label == int(len(named) > 0), (player, t)


def test_an_implicit_entity_made_from_both_role_columns_counts_both(tmp_path: Path) -> None:
    # No players table: a schema file makes one from winner_id and loser_id (key "id").
    import relgraph

    folder = tmp_path / "matches_only"
    folder.mkdir()
    rows = [r for r in FIXED_MATCHES if r[0] is not None]
    matches = matches_frame(rows)
    matches.to_csv(folder / "matches.csv", index=False)
    schema_file = tmp_path / "schema.toml"
    schema_file.write_text('[tables.players]\nimplicit = ["matches.winner_id", "matches.loser_id"]\n')
    db = relgraph.connect(folder, schema=schema_file)
    frame = make_training_table(
        db, "PREDICT COUNT(matches.*, 0, 30, days) FOR EACH players.id", [day(0), day(20)]
    )
    got = {(int(k), pd.Timestamp(t)): v for k, t, v in frame.itertuples(index=False)}
    seen_by = {int(v): min(matches.loc[(matches[list(ROLES)] == v).any(axis=1), "played_at"]) for v in PLAYERS}
    want = {
        (p, t): float(len(v))
        for t in (day(0), day(20))
        for p, v in role_values(matches, t, 0, 30).items()
        if seen_by[p] <= t  # an implicit entity exists from its first appearance
    }
    assert len(want) == 3 and got == want


def test_the_ranking_event_log_follows_the_remaining_role() -> None:
    from relgraph.query.interactions import RankingSpec

    accounts = pd.DataFrame({"account_id": [1, 2, 3]})
    transfers = pd.DataFrame(
        {"transfer_id": [1, 2], "from_id": [1, 2], "to_id": [2, 1], "sent_at": [day(1), day(2)]}
    )
    db = make_db(
        {"accounts": accounts, "transfers": transfers},
        {"accounts": "account_id", "transfers": "transfer_id"},
        {"transfers": [("from_id", "accounts", "account_id"), ("to_id", "accounts", "account_id")]},
        {"transfers": "sent_at"},
    )
    spec = RankingSpec.from_query(
        db, "PREDICT LIST_DISTINCT(transfers.to_id, 0, 10, days) RANK TOP 2 FOR EACH accounts.account_id"
    )
    assert spec.path == (("transfers", "from_id", "accounts", "account_id"),)


def test_via_can_choose_a_longer_path() -> None:
    # comments name their writer directly and the post's owner through the post
    users = pd.DataFrame({"user_id": [1, 2, 3]})
    posts = pd.DataFrame({"post_id": [10, 11], "owner_id": [1, 2], "posted_at": [day(-5), day(-5)]})
    comments = pd.DataFrame(
        {
            "comment_id": [1, 2, 3, 4],
            "user_id": [2, 3, 3, 1],
            "post_id": [10, 10, 11, 10],
            "written_at": [day(1), day(2), day(3), day(4)],
        }
    )
    db = make_db(
        {"users": users, "posts": posts, "comments": comments},
        {"users": "user_id", "posts": "post_id", "comments": "comment_id"},
        {
            "posts": [("owner_id", "users", "user_id")],
            "comments": [("user_id", "users", "user_id"), ("post_id", "posts", "post_id")],
        },
        {"posts": "posted_at", "comments": "written_at"},
    )
    written = make_training_table(db, "PREDICT COUNT(comments.*, 0, 10, days) FOR EACH users.user_id", [day(0)])
    received = make_training_table(
        db, "PREDICT COUNT(comments.* VIA post_id, 0, 10, days) FOR EACH users.user_id", [day(0)]
    )
    assert written["label"].tolist() == [1.0, 1.0, 2.0]  # the shortest path only: the writer
    assert received["label"].tolist() == [3.0, 1.0, 0.0]  # comments on one's posts
    assert "via comments.post_id -> posts.owner_id" in plan_sql(
        db, "PREDICT COUNT(comments.* VIA post_id, 0, 10, days) FOR EACH users.user_id"
    )
