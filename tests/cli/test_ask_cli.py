"""``relgraph ask`` on a small demo shop (SQLite): text and JSON answers, a cold run without torch, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relgraph.cli.main import main
from relgraph.demo.generate import make_demo_database

REPO = Path(__file__).resolve().parents[2]
CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{make_demo_database(tmp_path_factory.mktemp('ask') / 'demo.db', seed=0, scale=0.02)}"


def test_cold_json_answer_imports_no_torch(source: str) -> None:
    code = ("import sys; from relgraph.cli.main import main; "
            f"code = main(['ask', {source!r}, {CHURN!r}, '--top', '3', '--json']); "
            "assert 'torch' not in sys.modules, 'ask imported torch'; sys.exit(code)")
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert len(out["predictions"]) == 3 and out["entity"] == "customers.customer_id"
    probs = [p["probability"] for p in out["predictions"]]
    assert probs == sorted(probs, reverse=True)
    assert out["backtest"]["metric"] == "auroc" and out["backtest"]["rows"] > 0
    assert out["context"]["rows"] > 0 and out["at"] > out["context"]["to"]


def test_text_answer_for_ids_with_evidence(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", source, CHURN, "--ids", "1, 2", "--explain", "--no-backtest", "--at", "2024-06-01"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["customer_id", "probability", "prediction"]
    assert [line.split()[0] for line in lines[1:3]] == ["1", "2"]
    assert "customers.customer_id=1 at 2024-06-01T00:00:00" in out and "by table (log-odds)" in out
    assert "no backtest (--no-backtest); context" in err and "at 2024-06-01T00:00:00" in err


@pytest.mark.parametrize(("args", "message"), [
    (["PREDICT COUNT(orders.*, 0, 30, days) FOR EACH nobody.id"], "relgraph: error: "),
    ([CHURN, "--ids", "999999"], "relgraph: error: unknown id '999999'"),
    ([CHURN, "--at", "1900-01-01"], "relgraph: error: at=1900-01-01 00:00:00 is outside"),
])
def test_bad_input_is_one_error_line(source: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["ask", source, *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err


def test_ids_and_top_exclude_each_other(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["ask", source, CHURN, "--ids", "1", "--top", "2"])
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
