"""An ``auto`` run makes its report's LightGBM explanations while its GNN still trains (on the idle
core), and the report is the very one it would write by explaining after the run (tiny shop)."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from relgraph.baselines.lightgbm_search import usable_cores
from relgraph.database import Database
from relgraph.gnn.predictor import GNNConfig, GNNPredictor
from relgraph.query.task import TaskTables
from relgraph.runs import runner
from relgraph.runs.explain.report import (
    explanation_section,
    global_contributions,
    lightgbm_table_contributions,
)
from relgraph.runs.explain.run import load_run
from relgraph.runs.tasks import TaskSource

FAST = GNNConfig(hidden=16, fanouts=[4, 2], epochs=2, lr=1e-2, batch_size=128, graph_cache_dir=None, num_threads=1)


def _section(report: str) -> str:
    return report.split("<h2>Explanations</h2>", 1)[1].split("<h2>Where the time went</h2>", 1)[0].rstrip("\n")


def test_lightgbm_explanations_made_while_the_gnn_trains_are_the_reports_own(
    shop: tuple[Database, TaskTables], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if usable_cores() < 2:
        pytest.skip("one usable core: the GNN trains after LightGBM, not beside it")
    db, task = shop
    made, made_tables = threading.Event(), []
    make_tables, gnn_fit = runner._lightgbm_tables, GNNPredictor.fit

    def tables_then_release(*args):  # noqa: ANN002, ANN202
        made_tables.append(make_tables(*args))
        made.set()
        return made_tables[-1]

    def fit_after_the_tables(self, *args):  # noqa: ANN001, ANN002, ANN202 - the GNN's lane still trains meanwhile
        assert made.wait(120), "LightGBM's lane never made the report's explanations"
        return gnn_fit(self, *args)

    monkeypatch.setattr(runner, "_lightgbm_tables", tables_then_release)
    monkeypatch.setattr(GNNPredictor, "fit", fit_after_the_tables)
    metrics = runner.train_run(db, task, tmp_path, TaskSource(), model="auto", gnn_config=FAST, quiet=True)
    assert metrics["model"] in ("lightgbm", "blend")  # the kept model has a LightGBM part: the tables were used
    assert made_tables and made_tables[0] and "lightgbm explanations" in metrics["timings"]

    # The same figures and the same section as explaining the saved run afterwards.
    monkeypatch.undo()
    run = load_run(tmp_path)
    preds = pd.read_parquet(tmp_path / "predictions.parquet")
    lightgbm = run.model.members["lightgbm"] if run.kind == "blend" else run.model
    assert lightgbm_table_contributions(lightgbm, db, task.test, task.entity_key) == made_tables[0]
    if run.kind == "lightgbm":
        assert dict(global_contributions(run, db, preds)[0]) == made_tables[0]
    assert _section((tmp_path / "report.html").read_text()) == explanation_section(tmp_path, db)
