"""``relgraph query``: summary per split, --explain, --out parquet files, errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from relgraph.cli.main import main


def test_query_cli_writes_splits(
    rel_f1_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (rel_f1_dir / "tasks" / "driver-dnf" / "query.pql").read_text().strip()
    out = tmp_path / "tables"
    code = main(
        [
            "query",
            str(rel_f1_dir),
            text,
            "--val-cutoff",
            "2005-01-01",
            "--test-cutoff",
            "2010-01-01",
            "--out",
            str(out),
            "--explain",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "task: binary for each drivers.driverId" in printed
    assert 'JOIN "results" s ON' in printed and "-- parameters:" in printed
    assert "train " in printed and "11411" in printed and "positive rate 0.880" in printed
    for split, rows in (("train", 11411), ("val", 566), ("test", 702)):
        frame = pd.read_parquet(out / f"{split}.parquet")
        assert list(frame.columns) == ["driverId", "timestamp", "label"] and len(frame) == rows


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PREDICT COUNT(results.*, 0, 30 days) > 0 FOR EACH drivers.driverId", "expected ','"),
        ("PREDICT COUNT(result.*, 0, 30, days) > 0 FOR EACH drivers.driverId", "did you mean results"),
    ],
)
def test_query_cli_errors(
    rel_f1_dir: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    assert main(["query", str(rel_f1_dir), text]) == 1
    assert message in capsys.readouterr().err
