"""Key inference on columns with nulls: the value tests of ``schema/key_checks.py`` and a CSV folder of
yearly sports statistics with blank player ids, read through ``relgraph.connect`` and ``relgraph inspect``."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relgraph
from relgraph.cli.main import main
from relgraph.schema.key_checks import is_unique, is_unique_tuple


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.none(), st.integers(-5, 40)), min_size=1, max_size=30), st.booleans())
def test_is_unique_means_no_value_twice_and_no_null(values, chunked):
    array = pa.chunked_array([values[:3], values[3:]], pa.int64()) if chunked else pa.array(values, pa.int64())
    present = [v for v in values if v is not None]
    expected = len(present) == len(values) and len(set(present)) == len(present)
    assert is_unique(array) is expected
    assert is_unique_tuple([pa.chunked_array([values], pa.int64())]) is expected


@pytest.fixture
def sports(tmp_path: Path) -> Path:
    """Seasons split into yearly files (a unique (player_id, year) pair each), awards per season with
    blank player ids (an award not given), and salaries with a blank id among otherwise unique pairs."""
    folder = tmp_path / "sports"
    folder.mkdir()
    (folder / "seasons_2019.csv").write_text(
        "player_id,year,team,games\n101,2019,RED,30\n102,2019,RED,28\n103,2019,BLU,25\n"
    )
    (folder / "seasons_2020.csv").write_text(
        "player_id,year,team,games\n101,2020,RED,31\n102,2020,BLU,27\n104,2020,BLU,12\n"
    )
    (folder / "awards.csv").write_text(
        "player_id,year,award\n101,2019,MVP\n,2019,Rookie\n101,2020,MVP\n102,2020,Gold\n102,2020,Silver\n,2020,Rookie\n"
    )
    (folder / "salaries.csv").write_text(
        "player_id,year,salary\n101,2019,900\n102,2019,500\n,2019,100\n101,2020,950\n104,2020,300\n"
    )
    return folder


def test_blank_ids_in_yearly_statistics_infer_keys(sports):
    db = relgraph.connect(str(sports))
    seasons, awards, salaries = (db.schema.tables[t] for t in ("seasons", "awards", "salaries"))
    assert seasons.composite_key == ["player_id", "year"]
    (award_fk,) = awards.composite_foreign_keys
    assert (award_fk.columns, award_fk.references_table, award_fk.coverage) == (["player_id", "year"], "seasons", 1.0)
    # Salaries' complete rows are unique pairs: one record per season, a sibling, not a reference.
    assert salaries.composite_foreign_keys == []
    assert any(
        r.table == "salaries" and "one-to-one" in r.reason for r in db.schema.rejected_keys
    )


def test_blank_ids_in_yearly_statistics_inspect(sports, capsys):
    assert main(["inspect", str(sports), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "(player_id, year) -> seasons.(player_id, year)  coverage 100.0%" in out
    assert "4 rows without nulls" in out
