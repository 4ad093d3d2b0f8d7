"""The last resort of ``relgraph``: an exception that is a bug (not bad input) reaches the user as one
line saying what and where, and asking for a report; ``relgraph -v`` shows the traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import relgraph.cli.inspect
from relgraph.cli.main import main
from relgraph.schema.key_checks import is_unique


def broken_inspect(args) -> int:
    is_unique(None)  # type: ignore[arg-type]  # a bug inside relgraph: AttributeError there
    return 0


def test_a_bug_is_one_line_naming_where_it_happened(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(relgraph.cli.inspect, "run", broken_inspect)
    assert main(["inspect", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("relgraph: error: internal error at relgraph/schema/key_checks.py:")
    assert "AttributeError" in err and "please report it" in err


def test_verbose_shows_the_traceback(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(relgraph.cli.inspect, "run", broken_inspect)
    with pytest.raises(AttributeError):
        main(["-v", "inspect", str(tmp_path)])
