"""``FOR EACH commits.author_email``: a column whose values name things becomes an entity on the fly
(a git history export keyed by ``sha``, authors only as an email column)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flat_export_fixtures import git_history, write_git_history

import relgraph
from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.cli.main import main
from relgraph.errors import QueryError
from relgraph.query import build_task, entity_database, make_training_table, parse, validate
from relgraph.schema import SType

QUERY = "PREDICT COUNT(commits.*, 0, 14, days) > 0 FOR EACH commits.author_email"
STAMPS = pd.date_range("2023-02-01", "2023-11-01", freq="14D")


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_git_history(tmp_path_factory.mktemp("git") / "export")


@pytest.fixture(scope="module")
def db(git: Path) -> relgraph.Database:
    return relgraph.connect(git)


def test_the_column_becomes_a_table_of_its_values_and_a_foreign_key_to_it(db: relgraph.Database) -> None:
    assert db.schema["commits"].primary_key == "sha" and "author_email" not in db.schema
    made = entity_database(db, QUERY)
    authors = made.schema["author_email"]
    assert authors.implicit_from == ["commits.author_email"] and authors.time.column == "first_seen"
    assert authors.attributes == ["commits.author_name"]  # one name per email: the author's own
    assert made.schema["commits"].column("author_email").stype is SType.KEY
    fk = next(f for f in made.schema["commits"].foreign_keys if f.column == "author_email")
    assert (fk.references_table, fk.references_column) == ("author_email", "author_email")
    frame = git_history()
    oracle = frame.groupby("author_email")["committed_at"].min()
    table = made.tables["author_email"].to_pandas().set_index("author_email")
    pd.testing.assert_series_equal(table["first_seen"], oracle.astype("datetime64[ns]"), check_names=False)
    resolved = validate(parse(QUERY), made.schema)
    assert (resolved.entity_table, resolved.entity_key) == ("author_email", "author_email")
    assert entity_database(db, "PREDICT COUNT(file_changes.*, 0, 14, days) FOR EACH commits.sha") is db


def test_the_graph_passes_messages_through_the_made_entity(db: relgraph.Database, tmp_path: Path) -> None:
    from relgraph.graph import build_graph

    graph = build_graph(entity_database(db, QUERY), cache_dir=tmp_path / "cache")
    assert graph.num_nodes["author_email"] == 12
    assert graph.edge_index[("commits", "author_email", "author_email")].shape == (2, 288)
    assert "author_name" in graph.features["author_email"].categorical_names


def test_training_table_equals_a_pandas_oracle(db: relgraph.Database) -> None:
    got = make_training_table(db, QUERY, STAMPS)  # the original database: the hook makes the entity
    frame = git_history()
    first = frame.groupby("author_email")["committed_at"].min()
    rows = []
    for t in STAMPS:
        window = frame[(frame["committed_at"] > t) & (frame["committed_at"] <= t + pd.Timedelta(days=14))]
        for author in sorted(first[first <= t].index):
            rows.append({"author_email": author, "timestamp": t, "label": int((window["author_email"] == author).any())})
    oracle = pd.DataFrame(rows)
    oracle["timestamp"] = oracle["timestamp"].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(got, oracle)
    assert 0 < got["label"].mean() < 1


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        ("committed_at", r"its values are times \(timestamp\[s\]\)"),
        ("churn_score", r"its values are measurements \(double with fractions\)"),
        ("files_changed", r'a quantity .*declare \[tables.files_changed\] implicit = \["commits.files_changed"\]'),
        ("message", r"free text \(mean length \d+ characters\)"),
        ("ticket", r"nearly every value is distinct \(\d+ in 288 rows\)"),
        ("is_merge", "a yes/no flag"),
        ("branch", "only 2 distinct values: a category"),
    ],
)
def test_a_column_that_cannot_be_an_entity_gets_a_one_line_reason(db: relgraph.Database, column: str, reason: str) -> None:
    with pytest.raises(QueryError, match=rf"^FOR EACH commits.{column}: cannot be an entity: {reason}") as err:
        build_task(db, f"PREDICT COUNT(commits.*, 0, 14, days) > 0 FOR EACH commits.{column}")
    assert "\n" not in str(err.value)


def test_the_cli_refuses_in_one_line(git: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", str(git), "PREDICT COUNT(commits.*, 0, 14, days) > 0 FOR EACH commits.churn_score"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("relgraph: error: FOR EACH commits.churn_score: cannot be an entity") and "\n" not in err


def test_query_and_explain_say_the_entity_was_made(git: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", str(git), QUERY, "--explain"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == (
        "commits.author_email: entity made from 12 distinct values (first_seen time); attributes commits.author_name"
    )
    assert "task: binary for each author_email.author_email" in printed and 'FROM "author_email" e' in printed


def test_inspect_for_each_shows_the_made_table(git: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(git), "--for-each", "commits.author_email", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    made = next(t for t in document["tables"] if t["name"] == "author_email")
    assert made["rows"] == 12 and made["primary_key"] == "author_email"
    assert "commits.author_email: entity made from 12 distinct values (first_seen time)" in document["warnings"][-1]
    assert main(["inspect", str(git), "--for-each", "commits.is_merge"]) == 1
    assert "a yes/no flag" in capsys.readouterr().err


def test_deleting_the_future_changes_no_label_or_feature_of_an_earlier_time(db: relgraph.Database) -> None:
    cutoff = pd.Timestamp("2023-07-01")
    made = entity_database(db, QUERY)
    cut = made.cut(np.datetime64(cutoff))
    # The entity made from the rows before the cutoff alone is the same table.
    pd.testing.assert_frame_equal(
        entity_database(db.cut(np.datetime64(cutoff)), QUERY).tables["author_email"].to_pandas(),
        cut.tables["author_email"].to_pandas(),
    )
    early = [t for t in STAMPS if t + pd.Timedelta(days=14) <= cutoff]
    pd.testing.assert_frame_equal(make_training_table(made, QUERY, early), make_training_table(cut, QUERY, early))
    frame = make_training_table(made, QUERY, early)[["author_email", "timestamp"]]
    builder = TemporalFeatureBuilder(depth=2, windows=[30], max_features=None)
    whole = builder.fit_transform(made, "author_email", frame)
    again = TemporalFeatureBuilder(depth=2, windows=[30], max_features=None).fit_transform(cut, "author_email", frame)
    pd.testing.assert_frame_equal(whole, again)
    assert any("author_name" in name for name in whole.columns)  # the attribute is a feature of the row


@pytest.mark.slow
def test_a_run_on_the_made_entity_reopens_for_predict_and_evaluate(git: Path, tmp_path: Path) -> None:
    assert main(["train", str(git), "--query", QUERY, "--model", "lightgbm", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    run = relgraph.load(tmp_path / "run")
    assert run.entity_table == "author_email"
    again = relgraph.load(tmp_path / "run")
    predictions = again.predict(str(git), at="2023-10-01")
    assert sorted(predictions["author_email"]) == sorted(set(git_history()["author_email"]))
    assert again.evaluate(str(git))["test"] == run.metrics["test"]


@pytest.mark.slow
def test_a_one_epoch_gnn_passes_messages_through_the_made_entity(git: Path, tmp_path: Path) -> None:
    from relgraph.gnn import GNNConfig

    config = GNNConfig(hidden=8, fanouts=[4, 2], epochs=1, graph_cache_dir=None, num_threads=1)
    run = relgraph.train(str(git), QUERY, model="gnn", out=tmp_path / "gnn", gnn_config=config)
    assert run.config["model"] == "gnn" and "auroc" in run.metrics["test"]
    assert len(relgraph.load(tmp_path / "gnn").predict(str(git))) == 12


def test_the_schema_a_run_writes_reopens_the_same_entity(db: relgraph.Database, git: Path, tmp_path: Path) -> None:
    from relgraph.schema import schema_to_dict, write_schema

    made = entity_database(db, QUERY)
    written = tmp_path / "schema.toml"  # what a run folder keeps, read back when training used a schema file
    write_schema(made.schema, written)
    again = relgraph.connect(git, schema=written)
    assert schema_to_dict(again.schema) == schema_to_dict(made.schema)
    assert again.tables["author_email"].equals(made.tables["author_email"])
    assert entity_database(again, QUERY) is again  # the column is a foreign key there: nothing to make
