"""Column features by semantic type, and leakage-safe statistics."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.graph import FeatureStats, TemporalGraph, build_graph, normalize
from relgraph.graph.columns import ALWAYS, MULTI_TOP_K, TEXT_DIM
from relgraph.schema.model import SType, TimeInfo

DAY = 86_400


def day(i: int) -> np.datetime64:
    return np.datetime64("2021-01-01", "s") + np.timedelta64(i * DAY, "s")


def cutoff_seconds(i: int) -> int:
    return int(day(i).astype(np.int64))


def make_posts(
    database_factory: Callable[..., Database],
    rows: list[tuple[int, float | None, str | None, str | None, str | None, str | None]],
) -> Database:
    """posts(id, created day, score, kind, body, tags, edited) + static users; one row per tuple."""
    created = pa.array([day(r[0]) for r in rows], type=pa.timestamp("s"))
    posts = pa.table(
        {
            "id": list(range(len(rows))),
            "user_id": [i % 2 for i in range(len(rows))],
            "created": created,
            "score": pa.array([r[1] for r in rows], pa.float64()),
            "kind": pa.array([r[2] for r in rows], pa.string()),
            "body": pa.array([r[3] for r in rows], pa.string()),
            "tags": pa.array([r[4] for r in rows], pa.string()),
            "edited": pa.array([r[5] for r in rows], pa.string()),
            "audit": list(range(len(rows))),
        }
    )
    users = pa.table({"id": [0, 1], "karma": [5, 7], "country": ["fr", "de"]})
    return database_factory(
        {"posts": posts, "users": users},
        primary_keys={"posts": "id", "users": "id"},
        foreign_keys={"posts": [("user_id", "users", "id")]},
        times={"posts": TimeInfo("created")},
        stypes={
            "posts": {
                "body": SType.TEXT,
                "tags": SType.MULTICATEGORICAL,
                "edited": SType.TIMESTAMP,
                "audit": SType.IGNORED,
            }
        },
    )


ROWS = [
    # day, score, kind, body, tags, edited (string time)
    (5, 1.0, "question", "how do I fix a flat tyre", "<tyres><repair>", "2021-01-07 10:00:00"),
    (1, 3.0, "answer", "use a patch kit", "<repair>", None),
    (3, None, "question", "which chain lube", "<chain><lube>", "2021-01-04"),
    (9, 10.0, "wiki", None, None, None),
    (12, 20.0, "question", "how do I fix a flat tyre", "<tyres><tubeless>", "2021-01-20 00:00:00"),
    (2, 2.0, None, "", "<repair><chain>", None),
]


@pytest.fixture
def posts_db(database_factory: Callable[..., Database]) -> Database:
    return make_posts(database_factory, ROWS)


def test_features_by_stype(posts_db: Database) -> None:
    feats = build_graph(posts_db, cache_dir=None).features["posts"]
    # KEY (id, user_id) and IGNORED (audit) columns are not features; the time column is one.
    assert feats.numerical_names == ["score"]
    assert feats.categorical_names == ["kind"]
    assert feats.timestamp_names == ["created", "edited"]
    assert feats.text_names == ["body"]
    assert feats.multicategorical_names == ["tags"]
    assert feats.numerical.dtype == np.float32 and feats.numerical.shape == (6, 1)
    assert np.isnan(feats.numerical[2, 0]) and feats.numerical[4, 0] == 20.0
    assert feats.timestamp.dtype == np.float64
    assert feats.timestamp[0, 0] == cutoff_seconds(5)
    assert feats.timestamp[0, 1] == cutoff_seconds(6) + 10 * 3600
    assert feats.timestamp[2, 1] == cutoff_seconds(3)
    assert np.isnan(feats.timestamp[1, 1])


def test_categorical_codes_follow_first_appearance_in_time(posts_db: Database) -> None:
    feats = build_graph(posts_db, cache_dir=None).features["posts"]
    # Time order of rows: day1 answer, day2 None, day3 question, day5, day9 wiki, day12.
    assert feats.categorical_vocab == [["answer", "question", "wiki"]]
    assert feats.categorical[:, 0].tolist() == [2, 1, 2, 3, 2, 0]
    first = feats.categorical_first_seen[0]
    assert first.tolist() == [ALWAYS, cutoff_seconds(1), cutoff_seconds(3), cutoff_seconds(9)]
    assert np.all(np.diff(first[1:]) >= 0)
    users = build_graph(posts_db, cache_dir=None).features["users"]
    assert users.categorical_first_seen[0].tolist() == [ALWAYS] * 3  # static table: always known


def test_text_encoding_is_deterministic_and_content_based(posts_db: Database) -> None:
    text = build_graph(posts_db, cache_dir=None).features["posts"].text
    assert text.shape == (6, TEXT_DIM) and text.dtype == np.float32
    assert np.array_equal(text[0], text[4])  # same body, same vector
    assert not np.allclose(text[0], text[1])
    assert not text[3].any() and not text[5].any()  # null and empty text -> zeros
    again = build_graph(posts_db, cache_dir=None).features["posts"].text
    assert np.array_equal(text, again)


def test_multicategorical_pairs_and_multi_hot(posts_db: Database) -> None:
    graph = build_graph(posts_db, cache_dir=None)
    feats = graph.features["posts"]
    vocab = feats.multicategorical_vocab[0]
    assert vocab == ["repair", "chain", "lube", "tyres", "tubeless"]  # first appearance in time
    pairs = {
        (int(r), vocab[c - 1])
        for r, c in zip(feats.multicategorical_rows[0], feats.multicategorical_codes[0])
    }
    assert pairs == {
        (0, "tyres"),
        (0, "repair"),
        (1, "repair"),
        (2, "chain"),
        (2, "lube"),
        (4, "tyres"),
        (4, "tubeless"),
        (5, "repair"),
        (5, "chain"),
    }
    stats = graph.feature_stats(cutoff_seconds(100))["posts"]
    assert stats.multicategorical_values == [
        ["repair", "chain", "tyres", "lube", "tubeless"]
    ]  # by count, ties by age
    multi = normalize(feats, stats, "posts").multicategorical
    assert multi.shape == (6, 5)
    assert multi[0].tolist() == [1, 0, 1, 0, 0] and multi[3].tolist() == [0] * 5


def test_multicategorical_comma_and_list_columns(database_factory: Callable[..., Database]) -> None:
    table = pa.table(
        {
            "id": [1, 2, 3],
            "genres": ["drama, comedy", "comedy|horror", None],
            "labels": pa.array([["x", "y"], [], None], pa.list_(pa.string())),
        }
    )
    db = database_factory(
        {"films": table},
        primary_keys={"films": "id"},
        stypes={"films": {"genres": SType.MULTICATEGORICAL, "labels": SType.MULTICATEGORICAL}},
    )
    feats = build_graph(db, cache_dir=None).features["films"]
    assert feats.multicategorical_vocab == [["drama", "comedy", "horror"], ["x", "y"]]
    assert feats.multicategorical_rows[0].tolist() == [0, 0, 1, 1]
    assert feats.multicategorical_rows[1].tolist() == [0, 0]


def stats_of(db: Database, cutoff: int) -> dict:
    return build_graph(db, cache_dir=None).feature_stats(cutoff).to_dict()


def test_stats_ignore_rows_after_cutoff(
    database_factory: Callable[..., Database], posts_db: Database
) -> None:
    cutoff = cutoff_seconds(5)
    reference = stats_of(posts_db, cutoff)
    # Alter every row after the cutoff: other values, new categories, new tags.
    altered = [
        (d, (s or 0) * 100 + 7, "poll", "spam spam", "<spam><spam2>", "2030-01-01")
        if d > 5
        else (d, s, k, b, t, e)
        for d, s, k, b, t, e in ROWS
    ]
    assert stats_of(make_posts(database_factory, altered), cutoff) == reference
    # Delete them.
    assert stats_of(posts_db.cut(day(5)), cutoff) == reference
    assert stats_of(make_posts(database_factory, [r for r in ROWS if r[0] <= 5]), cutoff) == reference
    # Sanity: they were excluded, not ignored altogether — all-row stats differ.
    everything = stats_of(posts_db, cutoff_seconds(100))
    assert everything["tables"]["posts"]["numerical_mean"] != reference["tables"]["posts"]["numerical_mean"]
    assert reference["tables"]["posts"]["numerical_mean"] == [2.0]  # rows of days 1, 2, 5 (day 3 is missing)
    assert reference["tables"]["posts"]["categorical_values"] == [["answer", "question"]]
    assert everything["tables"]["posts"]["categorical_values"] == [["answer", "question", "wiki"]]
    assert "tubeless" not in reference["tables"]["posts"]["multicategorical_values"][0]
    # Static tables: every row counts.
    assert reference["tables"]["users"]["numerical_mean"] == [6.0]


def test_normalized_features_of_past_rows_do_not_depend_on_future_rows(posts_db: Database) -> None:
    cutoff = cutoff_seconds(5)
    full = build_graph(posts_db, cache_dir=None)
    past = build_graph(posts_db.cut(day(5)), cache_dir=None)
    full_norm = normalize(full.features["posts"], full.feature_stats(cutoff)["posts"], "posts")
    past_norm = normalize(past.features["posts"], past.feature_stats(cutoff)["posts"], "posts")
    kept = np.flatnonzero(full.node_time["posts"] <= cutoff)
    for name in (
        "numerical",
        "numerical_missing",
        "categorical",
        "timestamp_scaled",
        "text",
        "multicategorical",
    ):
        assert np.array_equal(getattr(full_norm, name)[kept], getattr(past_norm, name)), name
    # The day-9 "wiki" row is unseen at the cutoff: it falls into the shared bucket k + 1 = 3.
    assert full_norm.categorical[3, 0] == 3 and full_norm.categorical_cardinality == [4]


def test_normalize_values_and_missing_flags(posts_db: Database) -> None:
    graph = build_graph(posts_db, cache_dir=None)
    stats = graph.feature_stats(cutoff_seconds(100))
    norm = normalize(graph.features["posts"], stats["posts"], "posts")
    scores = np.array([1.0, 3.0, 10.0, 20.0, 2.0])
    expected = (scores - scores.mean()) / scores.std(ddof=1)
    assert np.allclose(norm.numerical[[0, 1, 3, 4, 5], 0], expected, atol=1e-6)
    assert norm.numerical[2, 0] == 0 and norm.numerical_missing[:, 0].tolist() == [0, 0, 1, 0, 0, 0]
    assert norm.timestamp.dtype == np.float64 and np.isnan(norm.timestamp[1, 1])
    restored = FeatureStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    again = normalize(graph.features["posts"], restored["posts"], "posts")
    assert np.array_equal(again.numerical, norm.numerical) and np.array_equal(
        again.categorical, norm.categorical
    )


def test_normalize_refuses_stats_of_another_schema(posts_db: Database) -> None:
    graph: TemporalGraph = build_graph(posts_db, cache_dir=None)
    stats = graph.feature_stats(cutoff_seconds(100))
    with pytest.raises(ModelError, match="table users: numerical columns"):
        normalize(graph.features["users"], stats["posts"], "users")


def test_multicategorical_keeps_top_k_by_cutoff(database_factory: Callable[..., Database]) -> None:
    # Tag i appears i + 1 times before the cutoff; a burst of a new tag after it must not enter the top-K.
    rows = [(1, 1.0, "q", "x", f"<t{i}>", None) for i in range(MULTI_TOP_K + 5) for _ in range(i + 1)]
    rows += [(50, 1.0, "q", "x", "<late>", None)] * 500
    graph = build_graph(make_posts(database_factory, rows), cache_dir=None)
    values = graph.feature_stats(cutoff_seconds(10))["posts"].multicategorical_values[0]
    assert len(values) == MULTI_TOP_K and "late" not in values and values[0] == f"t{MULTI_TOP_K + 4}"
    assert "late" in graph.feature_stats(cutoff_seconds(60))["posts"].multicategorical_values[0]


def test_text_encoder_matches_plain_hashing_reference() -> None:
    import re
    import zlib

    from relgraph.graph.columns import TEXT_HASH_FEATURES, _text_projection, encode_text

    docs = ["Flat tyre, flat TYRE again!", "a b", None, "Ünïcode wörds ok", ""]
    expected = np.zeros((len(docs), TEXT_DIM), dtype=np.float64)
    for i, doc in enumerate(docs):
        words = [w for w in re.split(r"[^\w]+", (doc or "").lower()) if len(w) >= 2]
        vector = np.zeros(TEXT_HASH_FEATURES)
        for term in words + [f"{a} {b}" for a, b in zip(words, words[1:])]:
            h = zlib.crc32(term.encode())
            vector[h % TEXT_HASH_FEATURES] += -1.0 if (h >> 31) & 1 else 1.0
        if np.linalg.norm(vector) > 0:
            expected[i] = (vector / np.linalg.norm(vector)) @ _text_projection().astype(np.float64)
    assert np.allclose(encode_text(pa.array(docs, pa.string())), expected, atol=1e-5)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 30),
            st.one_of(st.none(), st.floats(-1e3, 1e3)),
            st.one_of(st.none(), st.sampled_from("abcde")),
            st.lists(st.sampled_from("wxyz"), max_size=3),
        ),
        min_size=1,
        max_size=25,
    ),
    cutoff_day=st.integers(0, 30),
)
def test_stats_equal_stats_of_the_past_only(
    database_factory: Callable[..., Database], rows: list[tuple], cutoff_day: int
) -> None:
    def db_of(subset: list[tuple]) -> Database:
        table = pa.table(
            {
                "id": list(range(len(subset))),
                "at": pa.array([day(r[0]) for r in subset], pa.timestamp("s")),
                "x": pa.array([r[1] for r in subset], pa.float64()),
                "c": pa.array([r[2] for r in subset], pa.string()),
                "tags": pa.array([",".join(r[3]) for r in subset], pa.string()),
            }
        )
        return database_factory(
            {"events": table},
            primary_keys={"events": "id"},
            times={"events": TimeInfo("at")},
            stypes={"events": {"tags": SType.MULTICATEGORICAL}},
        )

    cutoff = cutoff_seconds(cutoff_day)
    past = [r for r in rows if r[0] <= cutoff_day]
    full_stats = build_graph(db_of(rows), cache_dir=None).feature_stats(cutoff).to_dict()
    past_stats = build_graph(db_of(past), cache_dir=None).feature_stats(cutoff).to_dict() if past else None
    if past_stats is not None:
        assert full_stats == past_stats
    else:
        assert full_stats["tables"]["events"]["categorical_values"] == [[]]
