"""Properties of the helpers every connector shares: fingerprint, type narrowing, normalisation."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from relgraph.connectors.base import (
    DeclaredKeys,
    fingerprint_tables,
    narrowest_type,
    normalize_types,
    parse_temporal_strings,
)
from relgraph.connectors.urls import redact_password

ints = st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), min_size=1, max_size=60)
texts = st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(values=ints, labels=texts, cut=st.integers(0, 60))
def test_fingerprint_ignores_chunking_and_sees_every_value(values: list, labels: list, cut: int) -> None:
    n = min(len(values), len(labels))
    table = pa.table({"v": pa.array(values[:n], pa.int64()), "s": pa.array(labels[:n], pa.string())})
    cut = min(cut, n)
    rechunked = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    declared = DeclaredKeys()
    base = fingerprint_tables({"t": table}, declared)
    assert fingerprint_tables({"t": rechunked}, declared) == base
    changed = values[:n]
    changed[cut % n] = None if changed[cut % n] is not None else 0
    edited = table.set_column(0, "v", pa.array(changed, pa.int64()))
    assert fingerprint_tables({"t": edited}, declared) != base
    assert fingerprint_tables({"u": table}, declared) != base  # the table name counts
    assert fingerprint_tables({"t": table}, DeclaredKeys(primary_keys={"t": "v"})) != base


@settings(max_examples=60, deadline=None)
@given(values=ints)
def test_narrowest_type_restores_integers_from_text(values: list) -> None:
    text = pa.chunked_array([pa.array([None if v is None else str(v) for v in values], pa.string())])
    narrowed = narrowest_type(text)
    if all(v is None for v in values):
        return  # nothing to go by: an all-null column may take any type
    assert narrowed.type == pa.int64()
    assert narrowed.to_pylist() == values


@settings(max_examples=60, deadline=None)
@given(
    stamps=st.lists(
        st.one_of(st.none(), st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1))), min_size=1
    ),
    sep=st.sampled_from([" ", "T"]),
)
def test_iso_strings_parse_to_the_same_instants(stamps: list, sep: str) -> None:
    text = pa.array(
        [None if s is None else s.isoformat(sep=sep, timespec="microseconds") for s in stamps], pa.string()
    )
    parsed = parse_temporal_strings(text)
    if all(s is None for s in stamps):
        assert parsed.type == pa.string()
        return
    assert parsed.type == pa.timestamp("us")
    assert parsed.to_pylist() == stamps


def test_unparsable_or_zoned_strings_stay_text() -> None:
    for values in (["2020-01-02", "soon"], ["2020-02-31"], ["2020-01-02T03:04:05+02:00"], ["1:26.572"]):
        assert parse_temporal_strings(pa.array(values)).type == pa.string()
    assert parse_temporal_strings(pa.array(["2020-01-02", None])).type == pa.date32()


def test_normalize_types() -> None:
    table = pa.table(
        {
            "i32": pa.array([1, None], pa.int32()),
            "f32": pa.array([1.5, None], pa.float32()),
            "dec0": pa.array([12, None], pa.decimal128(10, 0)),
            "dec2": pa.array([1, None], pa.decimal128(10, 2)),
            "dict": pa.array(["a", None]).dictionary_encode(),
            "tz": pa.array([0, None], pa.timestamp("us", tz="Europe/Paris")),
            "huge": pa.array([2**63 + 1, None], pa.uint64()),
        }
    )
    out = normalize_types(table)
    assert [str(t) for t in out.schema.types] == [
        "int64",
        "double",
        "int64",
        "double",
        "string",
        "timestamp[us]",
        "uint64",
    ]
    assert out.column("tz").to_pylist() == [dt.datetime(1970, 1, 1), None]  # the UTC instant, naive


def test_redact_password() -> None:
    assert (
        redact_password("postgresql://u:s3cret@h:5432/db?schema=x") == "postgresql://u:***@h:5432/db?schema=x"
    )
    assert redact_password("mysql://root@127.0.0.1:3306/test") == "mysql://root@127.0.0.1:3306/test"
