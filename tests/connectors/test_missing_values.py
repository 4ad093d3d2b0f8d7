"""CSV cells that mean "missing": null tokens (NA, \\N, NULL, empty) and placeholders among numbers."""

from __future__ import annotations

import pyarrow as pa

import relgraph
from relgraph.connectors.files import read_csv
from relgraph.connectors.values import numbers_with_sentinels
from relgraph.schema import SType


def test_null_tokens_are_missing_in_every_column(tmp_path) -> None:
    """A MovieLens-style ratings export written by R (NA), MySQL (\\N) and SQL clients (NULL)."""
    path = tmp_path / "ratings.csv"
    path.write_text(
        "userId,movieId,rating,tag,timestamp\n"
        "1,31,2.5,NA,1260759144\n"
        "1,1029,\\N,funny,1260759179\n"
        "2,1061,NULL,,1260759182\n"
        "3,1129,4.0,N/A,1260759185\n"
    )
    table = read_csv(path)
    assert table.column("rating").type == pa.float64() and table.column("rating").null_count == 2
    assert table.column("tag").to_pylist() == [None, "funny", None, None]


def test_numbers_with_a_few_placeholders_are_numbers(tmp_path) -> None:
    """Lahman-style batting stats where '-' and '?' stand for unknown values."""
    path = tmp_path / "batting.csv"
    path.write_text("battingID,HR,SB,AVG,team\n1,13,-,0.280,ML1\n2,27,?,n/a,ML1\n3,44,2,0.301,ATL\n")
    table = read_csv(path)
    assert table.column("HR").type == pa.int64()
    assert table.column("SB").type == pa.int64() and table.column("SB").to_pylist() == [None, None, 2]
    assert table.column("AVG").type == pa.float64() and table.column("AVG").null_count == 1
    assert table.column("team").type == pa.string()  # no numbers: stays text
    db = relgraph.connect(tmp_path)
    assert db.schema["batting"].column("AVG").stype is SType.NUMERICAL


def test_placeholders_only_among_numbers() -> None:
    def convert(values: list) -> pa.ChunkedArray:
        return numbers_with_sentinels(pa.chunked_array([pa.array(values, pa.string())]))

    assert convert(["1", "-", "3"]).type == pa.int64()
    assert convert(["a", "-", "b"]).type == pa.string()  # words and a dash: a category
    assert convert(["-", "?"]).type == pa.string()  # nothing but placeholders: no numbers to keep
    assert convert(["1", "-", "?", "--", "n/a"]).type == pa.string()  # four kinds: data, not placeholders
    assert convert(["1", "x", "-"]).type == pa.string()  # 'x' is no placeholder
