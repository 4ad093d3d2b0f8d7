"""On Spark, PQL on rel-f1 reproduces RelBench's own driver task tables exactly (as on DuckDB),
and ``relgraph query --engine spark`` writes the tables ``--engine duckdb`` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import relgraph
from relgraph.cli.main import main
from relgraph.demo.generate import make_demo_database
from relgraph.engines import engine_for
from relgraph.query import build_task

pytestmark = pytest.mark.spark

TASKS = {"driver-dnf": "did_not_finish", "driver-top3": "qualifying", "driver-position": "position"}
SPLITS = ("train", "val", "test")


def _reference(task_dir: Path, split: str, label: str) -> pd.DataFrame:
    ref = pd.read_parquet(task_dir / f"{split}.parquet").rename(columns={"date": "timestamp", label: "label"})
    return (
        ref[["driverId", "timestamp", "label"]].sort_values(["timestamp", "driverId"]).reset_index(drop=True)
    )


@pytest.mark.shared
def test_rel_f1_tasks_on_spark_equal_relbench(
    spark: Any, shared_datasets: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = shared_datasets / "rel-f1"
    if not (root / "db").is_dir():
        pytest.skip("rel-f1 not found")
    db = relgraph.connect(root / "db", engine="spark").with_engine(
        "spark", staging_dir=tmp_path_factory.mktemp("staged-rel-f1")
    )
    assert engine_for(db).name == "spark"
    for task, label in TASKS.items():
        task_dir = root / "tasks" / task
        tables = build_task(
            db, (task_dir / "query.pql").read_text(), val_cutoff="2005-01-01", test_cutoff="2010-01-01"
        )
        for split in SPLITS:
            mine = tables.split(split)
            ref = _reference(task_dir, split, label)
            assert list(mine.columns) == ["driverId", "timestamp", "label"]
            mine = mine.sort_values(["timestamp", "driverId"]).reset_index(drop=True)
            assert len(mine) == len(ref), (task, split)
            np.testing.assert_array_equal(mine["driverId"].to_numpy(), ref["driverId"].to_numpy())
            np.testing.assert_array_equal(mine["timestamp"].to_numpy(), ref["timestamp"].to_numpy())
            np.testing.assert_array_equal(mine["label"].to_numpy(), ref["label"].to_numpy())


def test_query_cli_on_spark_writes_duckdbs_tables(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_demo_database(tmp_path / "demo.db", seed=0, scale=0.1)
    monkeypatch.chdir(tmp_path)  # the staged Parquet goes to ./.relgraph_cache/spark/
    text = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
    for engine in ("duckdb", "spark"):
        args = [
            "query",
            f"sqlite:///{path}",
            text,
            "--out",
            str(tmp_path / engine),
            "--engine",
            engine,
            "--explain",
        ]
        assert main([*args, "--spark-master", "local[2]"] if engine == "spark" else args) == 0
    printed = capsys.readouterr().out
    assert "engine: spark (local[2])" in printed and "-- as Spark SQL:" in printed
    assert "MAKE_DT_INTERVAL" in printed.upper() and "TIMESTAMP_NTZ" in printed
    assert any((tmp_path / ".relgraph_cache" / "spark").iterdir())
    for split in SPLITS:
        expected = pd.read_parquet(tmp_path / "duckdb" / f"{split}.parquet")
        mine = pd.read_parquet(tmp_path / "spark" / f"{split}.parquet")
        assert len(expected) > 0
        pd.testing.assert_frame_equal(mine, expected)
