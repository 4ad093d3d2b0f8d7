"""Stage timings: the recorder's arithmetic (nested stages counted once, repeats summed), and a whole
``relgraph train --model auto`` run on a small demo shop writing them to metrics.json, train.log and
report.html."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest

from relgraph.baselines.lightgbm_search import usable_cores
from relgraph.cli.main import main
from relgraph.demo.generate import make_demo_database
from relgraph.stages import StageRecorder, active_recorder, stage

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
FAST = ["--epochs", "2", "--hidden", "16", "--fanouts", "4,2", "--threads", "1", "--quiet"]


def test_nested_stages_count_once_and_repeats_add_up() -> None:
    with StageRecorder() as recorder:
        with stage("outer", rows=10):
            sum(range(3_000_000))  # CPU work the outer stage keeps as its own
            time.sleep(0.05)
            with stage("inner", rows=3):
                time.sleep(0.1)
        with stage("inner", rows=4):
            time.sleep(0.02)
    summary = recorder.summary()
    assert list(summary) == ["inner", "outer", "other"]
    assert summary["inner"]["calls"] == 2 and summary["inner"]["rows"] == 7
    assert summary["inner"]["seconds"] >= 0.12 and summary["outer"]["seconds"] >= 0.05  # lower bounds hold under load
    assert summary["outer"]["cpu_seconds"] > summary["inner"]["cpu_seconds"]  # sleeping takes no CPU
    total = sum(entry["seconds"] for entry in summary.values())
    # stages + other = wall time: the inner stage's 0.1 s is not counted in the outer one as well
    assert total == pytest.approx(recorder.wall_seconds(), abs=0.01)


def test_a_stage_records_the_process_peak_memory_by_its_end() -> None:
    import numpy as np

    def resident_gib() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**30

    if not Path("/proc/self/statm").exists():
        pytest.skip("no /proc: the resident size cannot be read here")
    with StageRecorder() as recorder:
        with stage("allocates"):
            block = np.ones(300 * 2**20 // 8)  # 300 MiB, written so it is resident
            during = resident_gib()
        del block
    summary = recorder.summary()
    assert summary["allocates"]["peak_gib"] >= during - 0.01
    assert summary["other"]["peak_gib"] >= summary["allocates"]["peak_gib"]


def test_stages_beside_the_run_are_a_lane_of_their_own() -> None:
    """A thread's stages inside ``recorder.beside`` are kept, marked with their lane, and left out
    of ``other``: the run's own stages and ``other`` still add up to its wall time."""
    import threading

    with StageRecorder() as recorder:
        def lane() -> None:
            with recorder.beside("gnn"), stage("epochs", rows=3):
                time.sleep(0.2)

        thread = threading.Thread(target=lane)
        thread.start()
        with stage("configurations", rows=5):
            time.sleep(0.1)
        thread.join()
        with stage("untimed elsewhere"):
            assert active_recorder() is recorder  # the lane's recorder was this thread's only there
    summary = recorder.summary()
    assert summary["epochs"]["beside"] == "gnn" and summary["epochs"]["seconds"] >= 0.2
    assert "beside" not in summary["configurations"] and summary["configurations"]["rows"] == 5
    own = sum(e["seconds"] for e in summary.values() if "beside" not in e)
    assert own == pytest.approx(recorder.wall_seconds(), abs=0.01)


def test_without_a_recorder_a_stage_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    assert active_recorder() is None
    with caplog.at_level(logging.INFO, logger="relgraph.stages"), stage("alone", rows=5) as alone:
        alone.advance()  # no bar: a no-op
    assert active_recorder() is None
    assert re.search(r"stage alone: \d+\.\d s \(CPU \d+\.\d s\), 5 rows", caplog.text)


def test_a_recorder_is_active_only_inside_its_block() -> None:
    recorder = StageRecorder()
    with recorder:
        assert active_recorder() is recorder
    assert active_recorder() is None


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    db_path = make_demo_database(folder / "demo.db", seed=0, scale=0.05)
    out = folder / "run"
    assert main(["train", f"sqlite:///{db_path}", "--query", CHURN, "--out", str(out), "--model", "auto", *FAST]) == 0
    return out


def test_every_stage_that_ran_is_in_metrics_and_train_log(auto_run: Path) -> None:
    metrics = json.loads((auto_run / "metrics.json").read_text())
    timings = metrics["timings"]
    ran = {"read and infer", "training tables", "trivial", "lightgbm fit", "gnn fit", "features", "current parents",
           "lightgbm configurations", "refit", "graph", "gnn epochs", "predictions", "blend and bootstrap", "rule",
           "save models", "report", "other"}
    assert ran <= set(timings), ran - set(timings)
    for name, entry in timings.items():
        assert entry["seconds"] >= 0 and entry["cpu_seconds"] >= 0 and entry["calls"] >= 1 and entry["peak_gib"] > 0, name
    assert timings["lightgbm configurations"]["rows"] > 0 and timings["gnn epochs"]["calls"] == 1
    # The run's own stages and "other" add up to its wall time; the GNN's trained beside LightGBM.
    own = [e["seconds"] for e in timings.values() if "beside" not in e]
    assert sum(own) == pytest.approx(metrics["seconds"], rel=0.02)
    beside = {name for name, e in timings.items() if e.get("beside") == "gnn"}
    # Beside LightGBM, the GNN's lane also makes its validation and test predictions.
    assert beside == ({"gnn fit", "graph", "gnn epochs", "predictions (gnn)"} if usable_cores() >= 2 else set())
    assert {e["beside"] for e in timings.values() if "beside" in e} <= {"gnn"}
    log = (auto_run / "train.log").read_text()
    for name in ran - {"other"}:
        assert re.search(rf"stage {re.escape(name)}: \d+\.\d s", log), name
    assert re.search(r"stage lightgbm configurations: \d+\.\d s \(CPU \d+\.\d s\), [\d,]+ rows, peak \d+\.\d\d GiB", log)
    report = (auto_run / "report.html").read_text()
    section = report.split("<h2>Where the time went</h2>")[1]
    assert section.startswith("<img") and "<td>lightgbm configurations</td>" in section
