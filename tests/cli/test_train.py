"""``relgraph train`` -> ``predict`` -> ``evaluate`` round trip on a small demo shop (SQLite)."""

from __future__ import annotations

import html
import json
import logging
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from relgraph.cli.main import main
from relgraph.demo.generate import make_demo_database

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
# A schema file the runs carry along (the demo needs none: this one only restates inferred facts).
SHOP_SCHEMA = """\
[tables.order_items]
time = { inherit_via = "order_id" }
"""
FAST = ["--epochs", "2", "--hidden", "16", "--fanouts", "4,2", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("shop")
    db_path = make_demo_database(folder / "demo.db", seed=0, scale=0.05)
    schema = folder / "schema.toml"
    schema.write_text(SHOP_SCHEMA)
    return db_path, schema


@pytest.fixture(scope="module")
def run_dir(shop: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_path, schema = shop
    out = tmp_path_factory.mktemp("run")
    assert main(["train", f"sqlite:///{db_path}", "--query", CHURN, "--schema", str(schema), "--out", str(out),
                 "--model", "gnn", *FAST]) == 0
    return out


def test_train_writes_every_artifact(run_dir: Path) -> None:
    for name in ("config.json", "metrics.json", "predictions.parquet", "report.html", "query.pql", "schema.toml",
                 "train.log", "gnn/gnn.safetensors", "gnn/gnn.json"):
        assert (run_dir / name).exists(), name
    assert not (run_dir / "gnn" / "checkpoint.pt").exists()  # finished runs leave nothing to resume
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "binary" and metrics["model"] == "gnn"
    assert {"auroc", "average_precision", "accuracy"} <= set(metrics["test"])
    assert "trivial" in metrics["baselines"]
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert list(preds.columns) == ["customer_id", "timestamp", "label", "probability", "prediction"]
    report = (run_dir / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 3 and "trivial" in report
    assert "epoch 2" in (run_dir / "train.log").read_text()


def test_every_run_reports_the_rule_baseline_beside_trivial(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rule = metrics["baselines"]["rule"]
    assert {"auroc", "accuracy"} <= set(rule["val"]) and {"auroc", "accuracy"} <= set(rule["test"])
    assert 0.0 <= rule["test"]["auroc"] <= 1.0
    assert "P(positive)" in rule["text"] and "over the last" in rule["text"]  # the rule in words
    assert metrics["baselines"]["trivial"]["text"].startswith("the entity's positive rate")
    report = (run_dir / "report.html").read_text()
    assert "<td>rule</td>" in report and "<td>trivial</td>" in report
    assert html.escape(rule["text"]) in report


def test_evaluate_recomputes_the_saved_metrics(shop: tuple[Path, Path], run_dir: Path, capsys) -> None:
    db_path, _ = shop
    capsys.readouterr()
    assert main(["evaluate", f"sqlite:///{db_path}", "--model", str(run_dir)]) == 0
    recomputed = json.loads(capsys.readouterr().out)
    saved = json.loads((run_dir / "metrics.json").read_text())
    for split in ("val", "test"):
        assert recomputed[split]["auroc"] == pytest.approx(saved[split]["auroc"], abs=1e-9)


def test_predict_at_latest_time_and_write_a_new_table(shop: tuple[Path, Path], run_dir: Path, tmp_path: Path,
                                                      capsys) -> None:
    db_path, _ = shop
    copy = tmp_path / "copy.db"
    shutil.copy(db_path, copy)
    out = tmp_path / "preds.parquet"
    assert main(["predict", f"sqlite:///{copy}", "--model", str(run_dir), "--out", str(out), "--write-table", "churn_risk"]) == 0
    preds = pd.read_parquet(out)
    assert len(preds) > 0 and preds["probability"].between(0, 1).all()
    assert preds["timestamp"].nunique() == 1
    with sqlite3.connect(copy) as con:
        assert con.execute("SELECT COUNT(*) FROM churn_risk").fetchone()[0] == len(preds)
    # A second write to the same name is refused (the table exists), and the table is left as it was.
    capsys.readouterr()
    assert main(["predict", f"sqlite:///{copy}", "--model", str(run_dir), "--write-table", "churn_risk"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'churn_risk' already exists" in err
    with sqlite3.connect(copy) as con:
        assert con.execute("SELECT COUNT(*) FROM churn_risk").fetchone()[0] == len(preds)


def _grow(db_path: Path, copy: Path, model: Path) -> None:
    """Copy ``db_path`` to ``copy`` and give the copy tables the model at ``model`` never saw: its
    predictions (``--write-table``) and an unrelated timed table whose rows are later than all
    others (so a wrong ``--at`` default or graph would show)."""
    shutil.copy(db_path, copy)
    assert main(["predict", f"sqlite:///{copy}", "--model", str(model), "--write-table", "churn_risk"]) == 0
    with sqlite3.connect(copy) as con:
        con.execute("CREATE TABLE weather (weather_id INTEGER PRIMARY KEY, day TEXT, temperature REAL)")
        con.executemany("INSERT INTO weather VALUES (?, ?, ?)", [(i, f"2031-01-{i + 1:02d}", 20.0 + i) for i in range(5)])


def _check_grown_database(db_path: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                          caplog: pytest.LogCaptureFixture) -> None:
    """Predictions and evaluation of ``model`` are the same on a copy of ``db_path`` grown by
    :func:`_grow`, the new tables named in one log line; a trained table dropped is refused."""
    before, after = tmp_path / "before.parquet", tmp_path / "after.parquet"
    assert main(["predict", f"sqlite:///{db_path}", "--model", str(model), "--out", str(before)]) == 0
    grown = tmp_path / "grown.db"
    _grow(db_path, grown, model)
    with caplog.at_level(logging.INFO, logger="relgraph.schema_check"):
        caplog.clear()
        assert main(["predict", f"sqlite:///{grown}", "--model", str(model), "--out", str(after)]) == 0
        assert [r.getMessage() for r in caplog.records if r.name == "relgraph.schema_check"] == [
            "leaving out tables the model was not trained on: churn_risk, weather"
        ]
    pd.testing.assert_frame_equal(pd.read_parquet(after), pd.read_parquet(before))
    capsys.readouterr()
    assert main(["evaluate", f"sqlite:///{grown}", "--model", str(model)]) == 0
    recomputed = json.loads(capsys.readouterr().out)
    saved = json.loads((model / "metrics.json").read_text())
    assert recomputed["test"]["auroc"] == pytest.approx(saved["test"]["auroc"], abs=1e-9)
    with sqlite3.connect(grown) as con:
        con.execute("DROP TABLE order_items")
    assert main(["predict", f"sqlite:///{grown}", "--model", str(model)]) == 1
    err = capsys.readouterr().err
    # (one line; these runs carry a schema file, which names the table first)
    assert err.count("\n") == 1 and "table 'order_items'" in err


def test_gnn_leaves_out_tables_added_after_training(shop: tuple[Path, Path], run_dir: Path, tmp_path: Path,
                                                    capsys, caplog: pytest.LogCaptureFixture) -> None:
    _check_grown_database(shop[0], run_dir, tmp_path, capsys, caplog)


def test_lightgbm_leaves_out_tables_added_after_training(shop: tuple[Path, Path], tmp_path: Path, capsys,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """~8 s, mostly LightGBM's training run."""
    db_path, schema = shop
    model = tmp_path / "lgbm"
    assert main(["train", f"sqlite:///{db_path}", "--query", CHURN, "--schema", str(schema), "--out", str(model),
                 "--model", "lightgbm", "--quiet"]) == 0
    _check_grown_database(db_path, model, tmp_path, capsys, caplog)


def test_predict_without_write_table_leaves_the_source_untouched(shop: tuple[Path, Path], run_dir: Path, capsys) -> None:
    db_path, _ = shop
    before = db_path.read_bytes()
    assert main(["predict", f"sqlite:///{db_path}", "--model", str(run_dir), "--at", "2024-06-01"]) == 0
    assert "2024-06-01" in capsys.readouterr().out
    assert db_path.read_bytes() == before


def test_schema_mismatch_is_one_clear_line(shop: tuple[Path, Path], run_dir: Path, tmp_path: Path, capsys) -> None:
    db_path, _ = shop
    changed = tmp_path / "changed.db"
    shutil.copy(db_path, changed)
    with sqlite3.connect(changed) as con:
        con.execute("ALTER TABLE customers ADD COLUMN loyalty_tier TEXT")
        con.execute("UPDATE customers SET loyalty_tier = CASE WHEN customer_id % 3 = 0 THEN 'gold' ELSE 'basic' END")
    capsys.readouterr()
    assert main(["predict", f"sqlite:///{changed}", "--model", str(run_dir)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "customers.loyalty_tier" in err and "new in the database" in err


def test_task_tables_need_recognisable_columns(shop: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    db_path, schema = shop
    for split in ("train", "val", "test"):
        pd.DataFrame({"who": [1], "value": [0.5]}).to_parquet(tmp_path / f"{split}.parquet")
    code = main(["train", f"sqlite:///{db_path}", "--schema", str(schema), "--task-tables", str(tmp_path),
                 "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 1
    assert "cannot find the entity column" in capsys.readouterr().err


def test_task_tables_with_a_label_horizon_refit_lightgbm(shop: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    """Given task tables say nothing of when a label is known; ``--label-horizon`` does, and
    LightGBM is then refitted on training + validation rows for test rows."""
    db_path, schema = shop
    tables = tmp_path / "tables"
    assert main(["query", f"sqlite:///{db_path}", CHURN, "--schema", str(schema), "--out", str(tables)]) == 0
    base = ["train", f"sqlite:///{db_path}", "--schema", str(schema), "--task-tables", str(tables),
            "--entity-col", "customer_id", "--model", "lightgbm", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert "skipped" in json.loads((tmp_path / "plain" / "lightgbm" / "lightgbm.json").read_text())["refit"]
    assert main([*base, "--label-horizon", "30D", "--out", str(tmp_path / "refit")]) == 0
    refit = json.loads((tmp_path / "refit" / "lightgbm" / "lightgbm.json").read_text())["refit"]
    test = pd.read_parquet(tables / "test.parquet")
    assert refit["rows"] > 0 and pd.Timestamp(refit["from"]) <= pd.to_datetime(test["timestamp"]).min()
    capsys.readouterr()
    assert main([*base, "--label-horizon", "a month", "--out", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--label-horizon 'a month' is not a duration" in err


def test_auto_trains_both_and_the_blend_and_keeps_one_chosen_on_validation(shop: tuple[Path, Path], tmp_path: Path) -> None:
    db_path, schema = shop
    out = tmp_path / "auto"
    assert main(["train", f"sqlite:///{db_path}", "--query", CHURN, "--schema", str(schema), "--out", str(out),
                 "--model", "auto", *FAST]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    candidates = {metrics["model"]: metrics["val"], **{k: v["val"] for k, v in metrics["baselines"].items()}}
    assert set(candidates) == {"gnn", "lightgbm", "blend", "trivial", "rule"}
    # Baselines are reported, never kept: the kept model is a trained one, chosen on validation
    # (LightGBM unless another beats it beyond resampling noise: tests/runs/test_selection.py).
    assert metrics["model"] == metrics["selection"]["chosen"] in ("gnn", "lightgbm", "blend")
    report = (out / "report.html").read_text()
    assert "<td>gnn" in report and "<td>lightgbm" in report and "<td>blend" in report
    importance = report.split("<h2>Feature importance</h2>")[1]
    assert importance.startswith("<img")  # LightGBM's gain plot
    assert (out / "gnn" / "gnn.safetensors").exists() and (out / "lightgbm").is_dir()
    assert main(["predict", f"sqlite:///{db_path}", "--model", str(out), "--out", str(tmp_path / "p.csv")]) == 0


def test_label_context_option_adds_earlier_labels_to_lightgbm(shop: tuple[Path, Path], tmp_path: Path) -> None:
    db_path, schema = shop
    out = tmp_path / "ctx"
    assert main(["train", f"sqlite:///{db_path}", "--query", CHURN, "--schema", str(schema), "--out", str(out),
                 "--model", "lightgbm", "--label-context", "--quiet"]) == 0
    assert (out / "lightgbm" / "label_context.json").exists()
    meta = json.loads((out / "lightgbm" / "lightgbm.json").read_text())
    assert "label_ctx.mean.last3" in meta["columns"] and json.loads((out / "config.json").read_text())["label_context"]
    assert main(["predict", f"sqlite:///{db_path}", "--model", str(out), "--out", str(tmp_path / "p.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "p.parquet")["probability"].between(0, 1).all()


def test_train_defaults_to_auto_as_the_python_api() -> None:
    import inspect

    from relgraph.cli.main import build_parser
    from relgraph.runs.api import train

    argv = ["train", "sqlite:///x.db", "--out", "o"]
    assert build_parser(argv).parse_args(argv).model == "auto"
    assert inspect.signature(train).parameters["model"].default == "auto"


def test_a_run_folder_is_refused_in_one_line_unless_overwrite(shop: tuple[Path, Path], run_dir: Path, tmp_path: Path,
                                                              capsys) -> None:
    db_path, schema = shop
    before = (run_dir / "metrics.json").read_text()
    other = CHURN.replace("0, 30, days) = 0", "0, 60, days) = 0")
    argv = ["train", f"sqlite:///{db_path}", "--query", other, "--schema", str(schema), "--model", "lightgbm", "--quiet"]
    assert main([*argv, "--out", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"relgraph: error: {run_dir} already holds a run of another query")
    assert "(different: gnn, model, task.query)" in err and "pass --overwrite" in err
    assert (run_dir / "metrics.json").read_text() == before
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    assert main([*argv, "--out", str(copy), "--overwrite"]) == 0
    assert json.loads((copy / "config.json").read_text())["model"] == "lightgbm"
    assert not (copy / "gnn").exists() and "epoch 2" not in (copy / "train.log").read_text()


def test_default_cutoffs_survive_a_gap_in_the_data(tmp_path: Path) -> None:
    """A rental shop silent for six months before one last day: train works with the default cutoffs."""
    from rental_fixture import CHURN as RENTAL_CHURN
    from rental_fixture import write_gapped_rentals

    source = f"sqlite:///{write_gapped_rentals(tmp_path / 'rentals.db')}"
    out = tmp_path / "run"
    assert main(["train", source, "--query", RENTAL_CHURN, "--model", "lightgbm", "--out", str(out), "--quiet"]) == 0
    assert "cutoffs: val 2005-" in (out / "train.log").read_text()
    assert "chosen from the task&#x27;s rows" in (out / "report.html").read_text()


def test_a_lightgbm_run_imports_no_torch(shop: tuple[Path, Path], tmp_path: Path) -> None:
    """``--model lightgbm`` trains no GNN, so its start-up pays for no torch (GNN flags are ignored, still checked)."""
    import os
    import subprocess
    import sys

    db_path, _ = shop
    code = ("import sys; from relgraph.cli.main import main; "
            f"code = main(['train', 'sqlite:///{db_path}', '--query', {CHURN!r}, '--out', {str(tmp_path / 'run')!r}, "
            "'--model', 'lightgbm', '--epochs', '2', '--fanouts', '4,2', '--quiet']); "
            "assert 'torch' not in sys.modules, 'a lightgbm run imported torch'; sys.exit(code)")
    env = dict(os.environ, PYTHONPATH=f"{Path(__file__).resolve().parents[2]}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    request = json.loads((tmp_path / "run" / "request.json").read_text())
    assert request["model"] == "lightgbm" and request["gnn"] is None
    assert main(["train", f"sqlite:///{db_path}", "--query", CHURN, "--out", str(tmp_path / "bad"), "--model", "lightgbm",
                 "--fanouts", "4,x", "--quiet"]) == 1


def test_an_auto_run_loads_torch_in_the_gnn_lane_and_fits_the_rule_before_waiting_for_it(shop: tuple[Path, Path], tmp_path: Path) -> None:
    """Where the GNN trains beside LightGBM, torch (seconds of start-up) is first imported on the GNN's
    own thread, while LightGBM's features are computed, not before the run starts; and LightGBM's lane
    makes its predictions and the one-line rule before it waits for the GNN's."""
    import os
    import subprocess
    import sys

    from relgraph.baselines.lightgbm_search import usable_cores

    if usable_cores() < 2:
        pytest.skip("one usable core: the GNN trains after LightGBM, not beside it")
    db_path, _ = shop
    code = ("import sys, threading, importlib.abc\n"
            "first = []\n"
            "class Watch(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'torch' and not first: first.append(threading.current_thread().name)\n"
            "sys.meta_path.insert(0, Watch())\n"
            "from relgraph.cli.main import main\n"
            f"code = main(['train', 'sqlite:///{db_path}', '--query', {CHURN!r}, '--out', {str(tmp_path / 'run')!r}, "
            "'--model', 'auto', '--epochs', '1', '--fanouts', '4,2', '--quiet'])\n"
            "assert first == ['relgraph-gnn'], first\n"
            "sys.exit(code)")
    env = dict(os.environ, PYTHONPATH=f"{Path(__file__).resolve().parents[2]}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    log = (tmp_path / "run" / "train.log").read_text()
    assert log.index("stage rule:") < log.index("stage waiting for the gnn:")
