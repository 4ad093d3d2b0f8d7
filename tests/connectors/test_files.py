"""Folders of CSV / Parquet files and RelBench db/ folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from relgraph.connectors import read_source
from relgraph.errors import SourceError

F1_ROWS = {
    "circuits": 77,
    "drivers": 858,
    "constructors": 211,
    "status": 139,
    "races": 1125,
    "results": 26280,
    "driver_standings": 34344,
    "constructor_results": 12385,
    "constructor_standings": 13151,
    "qualifying": 10015,
}


def test_f1_csv_folder_types_and_nulls(shared_datasets: Path) -> None:
    data = read_source(str(shared_datasets / "f1"))
    assert {name: t.num_rows for name, t in data.tables.items()} == F1_ROWS
    assert data.declared.primary_keys == {} and data.declared.foreign_keys == {}
    results = data.tables["results"]
    for column in ("resultId", "raceId", "driverId", "statusId", "milliseconds", "position"):
        assert pa.types.is_integer(results.schema.field(column).type), column
    assert pa.types.is_floating(results.schema.field("points").type)
    # "\N" is a null, not a string, so numeric columns with gaps stay numeric.
    assert results.column("milliseconds").null_count > 0
    races = data.tables["races"]
    assert pa.types.is_date(races.schema.field("date").type)
    assert races.column("date").null_count == 0
    assert pa.types.is_date(data.tables["drivers"].schema.field("dob").type)
    assert data.tables["drivers"].column("number").null_count > 0
    assert data.source == str((shared_datasets / "f1").resolve())


def test_relbench_folder_declares_relbench_schema(shared_datasets: Path) -> None:
    data = read_source(str(shared_datasets / "rel-f1"))
    assert read_source(str(shared_datasets / "rel-f1" / "db")).fingerprint == data.fingerprint
    declared = data.declared
    assert declared.primary_keys["results"] == "resultId"
    assert declared.primary_keys["standings"] == "driverStandingsId"
    assert sorted(declared.foreign_keys["results"]) == [
        ("constructorId", "constructors", "constructorId"),
        ("driverId", "drivers", "driverId"),
        ("raceId", "races", "raceId"),
    ]
    assert declared.foreign_keys["races"] == [("circuitId", "circuits", "circuitId")]
    assert "circuits" not in declared.foreign_keys
    assert declared.time_columns == {
        t: "date"
        for t in (
            "races",
            "results",
            "standings",
            "constructor_results",
            "constructor_standings",
            "qualifying",
        )
    }
    assert pa.types.is_timestamp(data.tables["results"].schema.field("date").type)


def _relbench_parquet(
    path: Path, table: pa.Table, pkey: str | None, fkeys: dict, time_col: str | None
) -> None:
    meta = {
        b"pkey_col": json.dumps(pkey).encode(),
        b"fkey_col_to_pkey_table": json.dumps(fkeys).encode(),
        b"time_col": json.dumps(time_col).encode(),
    }
    pq.write_table(table.replace_schema_metadata(meta), path)


def test_relbench_foreign_key_takes_parent_primary_key(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    _relbench_parquet(db / "users.parquet", pa.table({"uid": [1, 2]}), "uid", {}, None)
    events = pa.table({"user": [1, 2, 2], "t": pa.array([1, 2, 3], pa.timestamp("s"))})
    _relbench_parquet(db / "events.parquet", events, None, {"user": "users"}, "t")
    declared = read_source(str(tmp_path)).declared
    assert declared.primary_keys == {"users": "uid"}
    assert declared.foreign_keys == {"events": [("user", "users", "uid")]}
    assert declared.time_columns == {"events": "t"}


def test_relbench_foreign_key_to_missing_table_names_it(tmp_path: Path) -> None:
    _relbench_parquet(tmp_path / "events.parquet", pa.table({"user": [1]}), None, {"user": "users"}, None)
    with pytest.raises(SourceError, match=r"events\.parquet: foreign key user -> users.*not in the folder"):
        read_source(str(tmp_path))


def test_csv_and_parquet_mixed_folder(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,when,amount,label\n1,2020-01-02 03:04:05,1.5,x\n2,\\N,,\n")
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "b.parquet")
    (tmp_path / "notes.txt").write_text("not a table")
    data = read_source(str(tmp_path))
    assert sorted(data.tables) == ["a", "b"]
    a = data.tables["a"]
    assert pa.types.is_timestamp(a.schema.field("when").type)
    assert a.schema.field("amount").type == pa.float64()
    assert a.column("amount").to_pylist() == [1.5, None]
    assert a.column("label").to_pylist() == ["x", None]


def test_csv_type_change_after_sniff_sample_is_read(tmp_path: Path) -> None:
    # 30 000 integer rows, then a text value: DuckDB's sampled sniff guesses integer first.
    lines = ["code"] + [str(i) for i in range(30_000)] + ["A7"]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    column = read_source(str(tmp_path)).tables["t"].column("code")
    assert pa.types.is_string(column.type)
    assert column[-1].as_py() == "A7"


def test_late_type_change_keeps_other_columns_typed(tmp_path: Path) -> None:
    rows = [f"{i},{i / 2},2020-01-{1 + i % 28:02d},\\N" for i in range(200_000)] + ["x,1.5,2021-01-01,late"]
    (tmp_path / "t.csv").write_text("code,amount,day,note\n" + "\n".join(rows) + "\n")
    table = read_source(str(tmp_path)).tables["t"]
    assert [str(t) for t in table.schema.types] == ["string", "double", "date32[day]", "string"]
    assert table.column("note").null_count == 200_000


def test_single_csv_file_is_one_table(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("id,x\n1,2\n")
    assert list(read_source(str(path)).tables) == ["orders"]


def test_fingerprint_is_stable_and_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,x\n1,\\N\n2,3\n")
    first = read_source(str(tmp_path)).fingerprint
    assert read_source(str(tmp_path)).fingerprint == first
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touching alone changes nothing
    assert read_source(str(tmp_path)).fingerprint == first
    path.write_text("id,x\n1,\\N\n2,4\n")
    assert read_source(str(tmp_path)).fingerprint != first


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source(str(tmp_path / "nope"))


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"no tables in folder {tmp_path}"):
        read_source(str(tmp_path))


def test_unparsable_csv_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "good.csv").write_text("a\n1\n")
    (tmp_path / "broken.csv").write_text("a,b\n1,2\n3,4,5\n")  # a row with one field too many
    with pytest.raises(SourceError, match=r"cannot parse CSV file .*broken\.csv"):
        read_source(str(tmp_path))


def test_unreadable_parquet_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match=r"cannot read Parquet file .*t\.parquet"):
        read_source(str(tmp_path))


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet"])
def test_an_empty_file_is_named_as_empty(tmp_path: Path, name: str) -> None:
    (tmp_path / "good.csv").write_text("a\n1\n")
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(SourceError, match=rf"{name.replace('.', '[.]')} is an empty file \(0 bytes"):
        read_source(str(tmp_path))


def test_a_blank_header_is_named_by_its_position(tmp_path: Path) -> None:
    # pandas' to_csv writes its index under a blank header; a second blank one, too.
    (tmp_path / "t.csv").write_text(",name, ,column_1\n0,a,x,1\n1,b,y,2\n")
    assert read_source(str(tmp_path)).tables["t"].column_names == ["column_1_", "name", "column_3", "column_1"]


def test_duplicate_column_names_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,a\n1,2,3\n")
    with pytest.raises(SourceError, match=r"t\.csv has two columns named 'a'"):
        read_source(str(tmp_path))


def test_bom_crlf_and_header_only_files(tmp_path: Path) -> None:
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfid,name\r\n1,a\r\n2,\\N\r\n")
    (tmp_path / "empty.csv").write_text("x,y\n")
    data = read_source(str(tmp_path))
    assert data.tables["bom"].to_pylist() == [{"id": 1, "name": "a"}, {"id": 2, "name": None}]
    assert data.tables["empty"].num_rows == 0 and data.tables["empty"].column_names == ["x", "y"]


def test_two_files_one_table_name(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a\n1\n")
    pq.write_table(pa.table({"a": [1]}), tmp_path / "t.parquet")
    with pytest.raises(SourceError, match="two files for table 't'"):
        read_source(str(tmp_path))


def test_unknown_scheme_lists_supported() -> None:
    with pytest.raises(SourceError, match=r"unknown source scheme oracle://.*supported"):
        read_source("oracle://scott@db/x")
