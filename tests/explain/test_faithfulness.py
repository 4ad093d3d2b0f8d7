"""Explanations are faithful on the demo shop: removing the top-attributed rows changes the
prediction more than removing as many random rows of the same entity."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from relgraph.runs.explain import load_run
from relgraph.runs.explain.faithfulness import faithfulness, without_rows
from relgraph.runs.tasks import prediction_rows

AT = pd.Timestamp("2024-06-01")


def _setup(run_dir: Path, db_path: Path, kind: str, n: int) -> tuple:
    run = load_run(run_dir, kind)
    db = run.connect(f"sqlite:///{db_path}")
    ids = prediction_rows(db, run.query, run.entity_table, run.entity_key, AT)[run.entity_key].tolist()[:n]
    return run, db, ids


def test_gnn_top_rows_matter_more_than_random_rows(blend_run: Path, shop_db_path: Path) -> None:
    run, db, ids = _setup(blend_run, shop_db_path, "gnn", 12)
    result = faithfulness(run, db, ids, AT, k=3, draws=5)["gnn"]
    assert result["entities"] >= 8
    assert result["top_change"] > result["random_change"]


@pytest.mark.slow  # recomputes every feature per deleted row set (~30 s on 2 busy cores)
def test_lightgbm_top_rows_matter_more_than_random_rows(blend_run: Path, shop_db_path: Path) -> None:
    run, db, ids = _setup(blend_run, shop_db_path, "lightgbm", 4)
    result = faithfulness(run, db, ids, AT, k=3, draws=2)["lightgbm"]
    assert result["entities"] >= 3
    assert result["top_change"] > result["random_change"]


def test_without_rows_copies_and_leaves_the_database_alone(blend_run: Path, shop_db_path: Path) -> None:
    run, db, _ = _setup(blend_run, shop_db_path, "lightgbm", 1)
    first = db.tables["orders"].column("order_id")[0].as_py()
    smaller = without_rows(db, [("orders", first)])
    assert smaller.tables["orders"].num_rows == db.tables["orders"].num_rows - 1
    assert db.tables["orders"].column("order_id")[0].as_py() == first
    assert smaller.fingerprint != db.fingerprint


