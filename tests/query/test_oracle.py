"""The correctness oracle: PQL on rel-f1 reproduces RelBench's own driver task tables exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relgraph.database import Database
from relgraph.query import build_task, make_training_table, parse, split_timestamps

TASKS = {"driver-dnf": "did_not_finish", "driver-top3": "qualifying", "driver-position": "position"}
SPLITS = ("train", "val", "test")


def _reference(task_dir: Path, label: str) -> dict[str, pd.DataFrame]:
    out = {}
    for split in SPLITS:
        ref = pd.read_parquet(task_dir / f"{split}.parquet").rename(
            columns={"date": "timestamp", label: "label"}
        )
        out[split] = (
            ref[["driverId", "timestamp", "label"]]
            .sort_values(["timestamp", "driverId"])
            .reset_index(drop=True)
        )
    return out


def _assert_identical(mine: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(mine.columns) == ["driverId", "timestamp", "label"]
    mine = mine.sort_values(["timestamp", "driverId"]).reset_index(drop=True)
    assert len(mine) == len(ref)
    np.testing.assert_array_equal(mine["driverId"].to_numpy(), ref["driverId"].to_numpy())
    np.testing.assert_array_equal(mine["timestamp"].to_numpy(), ref["timestamp"].to_numpy())
    np.testing.assert_array_equal(mine["label"].to_numpy(), ref["label"].to_numpy())


@pytest.mark.parametrize("task", sorted(TASKS))
def test_reference_timestamps_give_identical_tables(rel_f1: Database, rel_f1_dir: Path, task: str) -> None:
    task_dir = rel_f1_dir / "tasks" / task
    query = parse((task_dir / "query.pql").read_text())
    for ref in _reference(task_dir, TASKS[task]).values():
        _assert_identical(make_training_table(rel_f1, query, ref["timestamp"].unique()), ref)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_relbench_cutoffs_give_identical_tasks(rel_f1: Database, rel_f1_dir: Path, task: str) -> None:
    task_dir = rel_f1_dir / "tasks" / task
    text = (task_dir / "query.pql").read_text()
    tables = build_task(rel_f1, text, val_cutoff="2005-01-01", test_cutoff="2010-01-01")
    assert tables.task_type == ("regression" if task == "driver-position" else "binary")
    assert (tables.entity_table, tables.entity_key) == ("drivers", "driverId")
    for split, ref in _reference(task_dir, TASKS[task]).items():
        _assert_identical(tables.split(split), ref)
    # Every reference timestamp is one RelBench's conventions produce.
    stamps = split_timestamps(rel_f1, text, val_cutoff="2005-01-01", test_cutoff="2010-01-01")
    for split, ref in _reference(task_dir, TASKS[task]).items():
        assert set(ref["timestamp"]) <= set(stamps[split])
    assert max(stamps["train"]) + pd.Timedelta(days=30 if task != "driver-position" else 60) <= pd.Timestamp(
        "2005-01-01"
    )


def test_past_only_entity_filter_on_raw_f1(f1: Database) -> None:
    """The issue's WHERE example on raw Ergast CSVs (results inherit races' time via raceId)."""
    text = (
        "PREDICT AVG(results.positionOrder, 0, 60, days) FOR EACH drivers.driverId "
        "WHERE COUNT(results.*, -365, 0, days) > 0"
    )
    stamps = [pd.Timestamp("2010-01-01"), pd.Timestamp("2012-06-01"), pd.Timestamp("2023-11-01")]
    table = make_training_table(f1, text, stamps)
    results = f1.tables["results"].select(["driverId", "positionOrder"]).to_pandas()
    results["time"] = f1.row_times("results")
    expected = []
    for t in stamps:
        past = results[(results["time"] > t - pd.Timedelta(days=365)) & (results["time"] <= t)]
        window = results[(results["time"] > t) & (results["time"] <= t + pd.Timedelta(days=60))]
        means = window[window["driverId"].isin(past["driverId"])].groupby("driverId")["positionOrder"].mean()
        expected += [(driver, t, label) for driver, label in means.items()]
    assert len(table) == len(expected) > 40
    for (driver, t, label), row in zip(expected, table.itertuples(index=False)):
        assert (row.driverId, row.timestamp) == (driver, t)
        assert row.label == pytest.approx(label)
