"""One table split over several files (ATP ``matches_2019.csv``, ``matches_2020.csv``; Spark
``part-00000.parquet``): read as one table with a ``part`` column, apart again on request."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import relgraph
from relgraph.connectors import read_source
from relgraph.errors import SourceError

HEADER = "tourney_id,tourney_name,surface,tourney_date,winner_id,winner_name,loser_id,loser_name,score,minutes\n"
MATCHES = {
    "2019": "2019-339,Brisbane,Hard,2018-12-31,105357,John Millman,104919,Leonardo Mayer,6-4 6-2,95\n"
    "2019-339,Brisbane,Hard,2018-12-31,104745,Rafael Nadal,105227,Marin Cilic,6-3 6-4,88\n",
    "2020": "2020-8888,Atp Cup,Hard,2020-01-03,104925,Novak Djokovic,105227,Marin Cilic,6-3 6-2,71\n",
    # minutes has a fraction in 2021 only: the combined column is float
    "2021": "2021-0301,Antalya,Hard,2021-01-07,106233,Dominic Thiem,105357,John Millman,6-4 6-4,80.5\n",
}


@pytest.fixture
def atp(tmp_path: Path) -> Path:
    folder = tmp_path / "atp"
    folder.mkdir()
    for year, rows in MATCHES.items():
        (folder / f"atp_matches_{year}.csv").write_text(HEADER + rows)
    (folder / "atp_players.csv").write_text("player_id,name_first,name_last,hand\n104745,Rafael,Nadal,L\n")
    return folder


def test_year_files_with_the_same_columns_are_one_table_with_a_part_column(atp: Path) -> None:
    data = read_source(str(atp))
    assert sorted(data.tables) == ["atp_matches", "atp_players"]
    matches = data.tables["atp_matches"]
    assert matches.num_rows == 4
    assert matches.column("part").to_pylist() == ["2019", "2019", "2020", "2021"]
    assert pa.types.is_floating(matches.schema.field("minutes").type)
    parts = data.parts["atp_matches"]
    assert parts.files == ["atp_matches_2019.csv", "atp_matches_2020.csv", "atp_matches_2021.csv"]


def test_inspect_says_so_and_a_schema_file_reads_the_files_apart(atp: Path, tmp_path: Path) -> None:
    db = relgraph.connect(atp)
    note = next(w for w in db.schema.warnings if w.startswith("atp_matches: one table from 3 files"))
    assert "tables.atp_matches.parts = false" in note
    path = tmp_path / "apart.toml"
    path.write_text("[tables.atp_matches]\nparts = false\n")
    apart = relgraph.connect(atp, schema=path)
    own = sorted(name for name in apart.tables if not apart.schema[name].implicit_from)  # not loser_id etc.
    assert own == ["atp_matches_2019", "atp_matches_2020", "atp_matches_2021", "atp_players"]
    assert "part" not in apart.tables["atp_matches_2019"].column_names
    assert apart.tables["atp_matches_2019"].num_rows == 2


def test_parts_false_for_a_table_read_from_one_file_is_an_error(atp: Path, tmp_path: Path) -> None:
    path = tmp_path / "apart.toml"
    path.write_text("[tables.atp_players]\nparts = false\n")
    with pytest.raises(SourceError, match="atp_players is no table combined from several files"):
        relgraph.connect(atp, schema=path)


def test_files_with_different_columns_or_alone_stay_tables(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "table1.csv").write_text("a,b\n1,2\n")
    (folder / "table2.csv").write_text("a,c\n1,2\n")
    (folder / "results_2023.csv").write_text("x\n1\n")
    assert sorted(read_source(str(folder)).tables) == ["results_2023", "table1", "table2"]


def test_parquet_part_files_take_the_folder_name(tmp_path: Path) -> None:
    folder = tmp_path / "ratings"
    folder.mkdir()
    for i in range(3):
        pq.write_table(pa.table({"userId": [i, i + 1], "rating": [4.0, 3.5]}), folder / f"part-{i:05d}.parquet")
    data = read_source(str(folder))
    assert list(data.tables) == ["ratings"]
    assert data.tables["ratings"].column("part").to_pylist() == ["00000", "00000", "00001", "00001", "00002", "00002"]
