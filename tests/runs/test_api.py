"""The Python API: ``relgraph.train`` returns a run that predicts, evaluates, saves and loads,
with the same figures as the run folder the CLI writes (tiny shop, LightGBM: fast)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import relgraph
from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.query.task import TaskTables
from relgraph.runs.runner import evaluate_run, predict_run

QUERY = "PREDICT COUNT(orders.*, 0, 20, days) > 0 FOR EACH customers.customer_id"


@pytest.fixture(scope="module")
def run(shop: tuple[Database, TaskTables], tmp_path_factory: pytest.TempPathFactory) -> relgraph.Run:
    db, _ = shop
    return relgraph.train(db, QUERY, model="lightgbm", out=tmp_path_factory.mktemp("run") / "run")


def test_train_returns_a_run_with_metrics(run: relgraph.Run) -> None:
    assert run.metrics["task"] == "binary" and run.metrics["model"] == "lightgbm"
    assert "auroc" in run.metrics["test"] and "trivial" in run.metrics["baselines"]
    assert (run.directory / "report.html").exists()


def test_predict_and_evaluate_match_the_run_functions(shop: tuple[Database, TaskTables], run: relgraph.Run) -> None:
    db, task = shop
    at = pd.Timestamp("2023-10-01")
    pd.testing.assert_frame_equal(run.predict(db, at=at), predict_run(db, run.directory, at))
    assert run.evaluate(db) == evaluate_run(db, run.directory)
    assert run.evaluate(db)["test"] == pytest.approx(run.metrics["test"])


def test_save_and_load_give_the_same_predictions(shop: tuple[Database, TaskTables], run: relgraph.Run,
                                                 tmp_path: Path) -> None:
    db, _ = shop
    copy = run.save(tmp_path / "kept")
    loaded = relgraph.load(tmp_path / "kept")
    assert copy.directory == loaded.directory and loaded.config == run.config
    at = pd.Timestamp("2023-10-01")
    pd.testing.assert_frame_equal(loaded.predict(db, at=at), run.predict(db, at=at))


def test_load_of_a_folder_that_is_no_run_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a relgraph run folder"):
        relgraph.load(tmp_path)


def test_unknown_model_kind_is_refused(shop: tuple[Database, TaskTables], tmp_path: Path) -> None:
    db, _ = shop
    with pytest.raises(ModelError, match="unknown model 'forest'"):
        relgraph.train(db, QUERY, model="forest", out=tmp_path)


def test_the_runs_layer_imports_without_torch() -> None:
    """A LightGBM run never needs torch: the registry imports the GNN classes only when asked."""
    import subprocess
    import sys

    code = "import sys, relgraph; relgraph.train; relgraph.load; import relgraph.cli.train; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_predict_and_explain_default_to_where_the_target_rows_end(shop: tuple[Database, TaskTables], tmp_path: Path) -> None:
    """Without ``at``, a run trained on a query predicts and explains where the target's rows end,
    not at a later row of another table (where every customer would look gone)."""
    from shop_task import with_late_letters

    db = with_late_letters(shop[0])
    orders_end = pd.Timestamp(db.row_times("orders").max())
    assert pd.Timestamp(db.time_span()[1]) > orders_end + pd.Timedelta(days=89)
    run = relgraph.train(db, "PREDICT COUNT(orders.*, 0, 20, days) > 0 FOR EACH customers.customer_id", "lightgbm",
                         out=tmp_path / "run")
    assert (run.predict(db)["timestamp"] == orders_end).all()
    (explained,) = relgraph.explain(tmp_path / "run", db, [3])
    assert pd.Timestamp(explained["at"]) == orders_end
