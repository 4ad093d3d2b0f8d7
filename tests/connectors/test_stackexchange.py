"""Stack Exchange XML dump folders: typed columns, the dump's keys and times, Parquet cache."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from relgraph.connectors import read_source
from relgraph.errors import SourceError

BICYCLES_ROWS = {
    "Users": 2551,
    "Posts": 1446,
    "Comments": 2448,
    "Votes": 5671,
    "Badges": 6585,
    "PostHistory": 3994,
    "PostLinks": 189,
    "Tags": 94,
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.mktemp("relgraph-cache")
    monkeypatch.setenv("RELGRAPH_CACHE_DIR", str(cache))
    return cache


def _write_dump(folder: Path, files: dict[str, list[str]]) -> None:
    """Files as Stack Exchange writes them: UTF-8 with BOM, CRLF, one <row/> per line."""
    for name, rows in files.items():
        lines = ['<?xml version="1.0" encoding="utf-8"?>', f"<{name.lower()}>"]
        lines += [f"  <row {row} />" for row in rows] + [f"</{name.lower()}>"]
        (folder / f"{name}.xml").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8"))


TINY = {
    "Users": [
        'Id="-1" Reputation="1" CreationDate="2010-08-25T18:10:17.000" DisplayName="Community"',
        'Id="5" Reputation="101" CreationDate="2011-01-02T03:04:05.678" DisplayName="1234"',
    ],
    "Posts": [
        'Id="1" PostTypeId="1" CreationDate="2011-02-01T00:00:00.000" OwnerUserId="5" Title="Bell &amp; brakes"',
        'Id="2" PostTypeId="2" ParentId="1" CreationDate="2011-02-02T00:00:00.000" Body="&lt;p&gt;é&lt;/p&gt;"',
    ],
    "Votes": ['Id="1" PostId="2" VoteTypeId="2" CreationDate="2011-02-03T00:00:00.000"'],
    "Tags": [
        'Id="1" TagName="2019" Count="3" IsRequired="True"',
        'Id="2" TagName="x" Count="0" IsRequired="False"',
    ],
}


def test_tiny_dump_types_nulls_keys(tmp_path: Path) -> None:
    _write_dump(tmp_path, TINY)
    data = read_source(str(tmp_path))
    users, posts, tags = data.tables["Users"], data.tables["Posts"], data.tables["Tags"]
    assert users.column("Id").to_pylist() == [-1, 5]
    assert users.schema.field("CreationDate").type == pa.timestamp("us")
    assert users.column("DisplayName").to_pylist() == ["Community", "1234"]  # text stays text
    assert posts.column("ParentId").to_pylist() == [None, 1]  # absent attribute -> null
    assert posts.column("OwnerUserId").to_pylist() == [5, None]
    assert posts.column("Title").to_pylist() == ["Bell & brakes", None]
    assert posts.column("Body").to_pylist() == [None, "<p>é</p>"]
    assert tags.column("IsRequired").to_pylist() == [True, False]
    assert tags.column("TagName").to_pylist() == ["2019", "x"]
    declared = data.declared
    assert declared.primary_keys == {name: "Id" for name in TINY}
    assert declared.foreign_keys == {
        "Posts": [("OwnerUserId", "Users", "Id"), ("ParentId", "Posts", "Id")],
        "Votes": [("PostId", "Posts", "Id")],
    }
    assert declared.time_columns == {
        "Users": "CreationDate",
        "Posts": "CreationDate",
        "Votes": "CreationDate",
    }


def test_second_read_comes_from_the_parquet_cache(tmp_path: Path, private_cache: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    _write_dump(dump, TINY)
    first = read_source(str(dump))
    cached = list(private_cache.rglob("*.parquet"))
    assert sorted(p.stem for p in cached) == sorted(TINY)
    # Prove the second read uses the cache: mark a cached value, keep the XML untouched.
    users_cache = next(p for p in cached if p.stem == "Users")
    marked = first.tables["Users"].set_column(3, "DisplayName", pa.array(["cached", "cached"]))
    pq.write_table(marked, users_cache)
    assert read_source(str(dump)).tables["Users"].column("DisplayName").to_pylist() == ["cached", "cached"]
    # A changed file is a new cache key: parsed afresh.
    _write_dump(dump, {**TINY, "Users": TINY["Users"][:1]})
    again = read_source(str(dump))
    assert again.tables["Users"].num_rows == 1 and again.fingerprint != first.fingerprint


def test_unwritable_cache_still_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("RELGRAPH_CACHE_DIR", str(blocker / "cache"))
    dump = tmp_path / "dump"
    dump.mkdir()
    _write_dump(dump, TINY)
    assert read_source(str(dump)).tables["Posts"].num_rows == 2


def test_malformed_xml_names_the_file(tmp_path: Path) -> None:
    _write_dump(tmp_path, TINY)
    (tmp_path / "Comments.xml").write_text('<comments>\n  <row Id="1" PostId="2" \n</comments>')
    with pytest.raises(SourceError, match=r"cannot parse Stack Exchange XML file .*Comments\.xml: .*line"):
        read_source(str(tmp_path))


def test_bicycles_meta_dump(shared_datasets: Path) -> None:
    data = read_source(str(shared_datasets / "stack-bicycles-meta"))
    assert {name: t.num_rows for name, t in data.tables.items()} == BICYCLES_ROWS
    posts = data.tables["Posts"]
    for column in ("Id", "PostTypeId", "OwnerUserId", "ParentId", "AcceptedAnswerId", "Score"):
        assert posts.schema.field(column).type == pa.int64(), column
    assert posts.column("OwnerUserId").null_count == 41
    assert data.tables["Comments"].column("UserId").null_count == 85
    assert "UserId" not in data.tables["Votes"].column_names
    assert data.tables["Badges"].schema.field("Date").type == pa.timestamp("us")
    type_counts = {
        row["values"]: row["counts"] for row in posts.column("PostTypeId").value_counts().to_pylist()
    }
    assert type_counts == {1: 453, 2: 971, 4: 11, 5: 11}
    declared = data.declared
    assert set(declared.primary_keys.values()) == {"Id"} and len(declared.primary_keys) == 8
    fks = {(t, c, p) for t, items in declared.foreign_keys.items() for c, p, _ in items}
    assert fks == {
        ("Posts", "OwnerUserId", "Users"),
        ("Posts", "ParentId", "Posts"),
        ("Posts", "AcceptedAnswerId", "Posts"),
        ("Comments", "PostId", "Posts"),
        ("Comments", "UserId", "Users"),
        ("Votes", "PostId", "Posts"),
        ("Badges", "UserId", "Users"),
        ("PostHistory", "PostId", "Posts"),
        ("PostHistory", "UserId", "Users"),
        ("PostLinks", "PostId", "Posts"),
        ("PostLinks", "RelatedPostId", "Posts"),
        ("Tags", "ExcerptPostId", "Posts"),
        ("Tags", "WikiPostId", "Posts"),
    }
    assert declared.time_columns["Badges"] == "Date" and "Tags" not in declared.time_columns
