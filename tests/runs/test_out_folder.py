"""A run folder is never replaced without a word (``relgraph.train(out=...)``, ``Run.save``):
refused with one line unless ``overwrite``, resumed when unfinished with the same request."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import relgraph
from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.query.task import TaskTables
from relgraph.runs.out_folder import REQUEST_FILE

QUERY = "PREDICT COUNT(orders.*, 0, 20, days) > 0 FOR EACH customers.customer_id"
OTHER = "PREDICT COUNT(orders.*, 0, 40, days) > 0 FOR EACH customers.customer_id"


@pytest.fixture(scope="module")
def trained(shop: tuple[Database, TaskTables], tmp_path_factory: pytest.TempPathFactory) -> Path:
    db, _ = shop
    out = tmp_path_factory.mktemp("first") / "run"
    relgraph.train(db, QUERY, model="lightgbm", out=out)
    return out


def _config(folder: Path) -> str:
    return (folder / "config.json").read_text()


def test_a_run_of_another_query_or_model_is_refused_and_left_as_it_was(shop, trained: Path) -> None:
    db, _ = shop
    before = _config(trained)
    with pytest.raises(ModelError, match=r"already holds a run of another query or configuration \(different: "
                                         r"task\.query\); pass --overwrite \(Python: overwrite=True\)"):
        relgraph.train(db, OTHER, model="lightgbm", out=trained)
    with pytest.raises(ModelError, match=r"\(different: seed\)"):
        relgraph.train(db, QUERY, model="lightgbm", out=trained, seed=1)
    assert _config(trained) == before and json.loads((trained / REQUEST_FILE).read_text())["task"]["query"] == QUERY


def test_the_same_finished_run_is_refused_too(shop, trained: Path) -> None:
    db, _ = shop
    with pytest.raises(ModelError, match="already holds this run, finished .* to train it again"):
        relgraph.train(db, QUERY, model="lightgbm", out=trained)


def test_overwrite_replaces_the_run_and_nothing_else(shop, trained: Path, tmp_path: Path) -> None:
    db, _ = shop
    out = relgraph.load(trained).save(tmp_path / "run").directory
    (out / "notes.txt").write_text("mine")
    run = relgraph.train(db, OTHER, model="lightgbm", out=out, overwrite=True)
    assert run.config["source"]["query"] == OTHER and (out / "notes.txt").read_text() == "mine"


def test_an_unfinished_run_of_the_same_request_resumes(shop, trained: Path, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    db, _ = shop
    out = relgraph.load(trained).save(tmp_path / "run").directory
    (out / "config.json").unlink()  # as a run interrupted before its end leaves it
    with caplog.at_level(logging.INFO, logger="relgraph"):
        run = relgraph.train(db, QUERY, model="lightgbm", out=out)
    assert f"resuming the unfinished run in {out} (same query and configuration)" in caplog.text
    assert run.config == relgraph.load(trained).config


def test_a_run_stopped_before_any_model_does_not_hold_the_folder(shop, tmp_path: Path) -> None:
    db, _ = shop
    with pytest.raises(ModelError, match="unknown model 'forest'"):
        relgraph.train(db, QUERY, model="forest", out=tmp_path)
    assert not (tmp_path / REQUEST_FILE).exists()


def test_save_refuses_a_folder_holding_a_run_unless_overwrite(trained: Path, tmp_path: Path) -> None:
    run = relgraph.load(trained)
    (tmp_path / "empty").mkdir()
    assert run.save(tmp_path / "empty").config == run.config  # an existing folder without a run is fine
    with pytest.raises(ModelError, match="already holds a run; pass overwrite=True"):
        run.save(tmp_path / "empty")
    assert run.save(tmp_path / "empty", overwrite=True).config == run.config
