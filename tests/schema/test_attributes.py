"""Flat exports: columns constant per made entity become its own attributes (order lines of a shop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from flat_export_fixtures import order_lines, write_order_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import relgraph
from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.cli.main import main
from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.errors import SchemaError
from relgraph.graph import build_graph
from relgraph.schema import SType, build_schema, schema_to_dict, write_schema
from relgraph.schema.attributes import MIN_REPEATED
from relgraph.schema.entities import materialise

EXPECTED = {
    "customer_id": ["order_lines.customer_name", "order_lines.customer_country"],
    "product_id": ["order_lines.product_name", "order_lines.product_category"],
    "employee_id": ["order_lines.employee_name"],
    # segment changes for one customer, but never within one order: it describes the order
    "order_id": ["order_lines.segment"],
}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return write_order_lines(tmp_path / "shop")


def _schema_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schema.toml"
    path.write_text(text)
    return path


def test_columns_that_depend_only_on_an_entity_become_its_attributes(shop: Path) -> None:
    db = relgraph.connect(shop)
    assert {name: db.schema[name].attributes for name in EXPECTED} == EXPECTED
    lines = db.schema["order_lines"]
    for attributes in EXPECTED.values():
        for attribute in attributes:
            column = lines.column(attribute.split(".")[1])
            assert column.stype is SType.IGNORED and "an attribute of table" in column.evidence
    # unit_price changes for one product in July: it varies within its entity and stays on the row
    assert lines.column("unit_price").stype is SType.NUMERICAL
    assert lines.column("quantity").stype is not SType.IGNORED
    assert db.schema["customer_id"].column("customer_country").stype is SType.CATEGORICAL


def test_attribute_values_equal_a_pandas_oracle(shop: Path) -> None:
    db = relgraph.connect(shop)
    frame = order_lines()
    for name, attributes in EXPECTED.items():
        columns = [a.split(".")[1] for a in attributes]
        oracle = frame[[name, *columns]].drop_duplicates().sort_values(name).reset_index(drop=True)
        got = db.tables[name].select([name, *columns]).to_pandas()
        pd.testing.assert_frame_equal(got, oracle, check_dtype=False)


def test_inspect_shows_the_evidence(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(shop)]) == 0
    printed = capsys.readouterr().out
    assert "attribute from order_lines.customer_name: one value per customer_id over all" in printed
    assert "customer_country  string       ignored          depends only on customer_id" in printed


def test_the_node_and_the_lightgbm_row_of_an_entity_carry_its_attributes(shop: Path, tmp_path: Path) -> None:
    db = relgraph.connect(shop)
    graph = build_graph(db, cache_dir=tmp_path / "cache")
    assert "customer_country" in graph.features["customer_id"].categorical_names
    frame = pd.DataFrame({"customer_id": [101, 102], "timestamp": pd.to_datetime(["2023-06-01", "2023-06-01"])})
    features = TemporalFeatureBuilder(depth=0).fit_transform(db, "customer_id", frame)
    assert any("customer_country" in name for name in features.columns)


def test_cut_keeps_each_earlier_entity_with_the_same_attributes(shop: Path) -> None:
    db = relgraph.connect(shop)
    cutoff = np.datetime64("2023-05-01")
    cut = db.cut(cutoff)
    whole = db.tables["product_id"].to_pandas()
    early = whole[whole["first_seen"] <= pd.Timestamp(cutoff)].reset_index(drop=True)
    pd.testing.assert_frame_equal(cut.tables["product_id"].to_pandas(), early)
    # Made again from the rows before the cutoff alone: the same table (no later row shapes it).
    own = {"order_lines": cut.tables["order_lines"]}
    assert materialise(own, cut.schema)["product_id"].equals(cut.tables["product_id"])


def test_schema_file_turns_attributes_off_or_states_them(shop: Path, tmp_path: Path) -> None:
    off = relgraph.connect(shop, schema=_schema_file(tmp_path, "[tables.customer_id]\nattributes = false\n"))
    assert off.schema["customer_id"].attributes == []
    assert off.tables["customer_id"].column_names == ["customer_id", "first_seen"]
    assert off.schema["order_lines"].column("customer_name").stype is not SType.IGNORED
    assert off.schema["product_id"].attributes == EXPECTED["product_id"]  # the others still inferred
    one = relgraph.connect(
        shop, schema=_schema_file(tmp_path, '[tables.customer_id]\nattributes = ["order_lines.customer_country"]\n')
    )
    assert one.schema["customer_id"].attributes == ["order_lines.customer_country"]
    assert one.schema["order_lines"].column("customer_name").stype is not SType.IGNORED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[tables.product_id]\nattributes = ["order_lines.unit_price"]\n',
            r"tables.product_id.attributes: order_lines.unit_price varies within one product_id \(1: 30.0, 35.0\)",
        ),
        ('[tables.order_lines]\nattributes = ["order_lines.segment"]\n', "order_lines is no table relgraph makes"),
        ('[tables.customer_id]\nattributes = ["orders.customer_name"]\n', "is not a column of a source table"),
        ('[tables.customer_id]\nattributes = ["order_lines.ordered_at"]\n', "a key or the row time"),
        ('[tables.customer_id]\nattributes = "customer_name"\n', "expected false or a list of source columns"),
    ],
)
def test_schema_file_attributes_that_cannot_be_are_refused_in_one_line(
    shop: Path, tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SchemaError, match=message) as err:
        relgraph.connect(shop, schema=_schema_file(tmp_path, text))
    assert "\n" not in str(err.value)


def test_a_written_schema_reads_back_to_the_same_schema(shop: Path, tmp_path: Path) -> None:
    db = relgraph.connect(shop, schema=_schema_file(tmp_path, "[tables.employee_id]\nattributes = false\n"))
    written = tmp_path / "written.toml"
    write_schema(db.schema, written)
    again = relgraph.connect(shop, schema=written)
    assert schema_to_dict(again.schema) == schema_to_dict(db.schema)
    assert again.tables["customer_id"].equals(db.tables["customer_id"])


def test_a_dependency_seen_on_too_few_repeated_entities_is_not_inferred(tmp_path: Path) -> None:
    frame = order_lines()
    few = frame[frame["customer_id"].isin([101, 102]) | ~frame.duplicated("customer_id")]
    folder = tmp_path / "few"
    folder.mkdir()
    few.to_csv(folder / "order_lines.csv", index=False)
    db = relgraph.connect(folder)
    assert db.schema["customer_id"].attributes == []  # only 2 customers with repeated rows: chance


@st.composite
def _flat_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Lines of 3-6 customers (1-4 lines each) with a column set per customer (maybe null) and one per line."""
    sizes = [draw(st.integers(2, 4)), *draw(st.lists(st.integers(1, 4), min_size=2, max_size=5))]  # ids repeat
    per_customer = draw(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=len(sizes), max_size=len(sizes)))
    customers = [i for i, size in enumerate(sizes) for _ in range(size)]
    per_line = draw(st.lists(st.sampled_from(["x", "y", None]), min_size=len(customers), max_size=len(customers)))
    return pd.DataFrame(
        {
            "line_id": range(900, 900 + len(customers)),
            "customer_id": [100 + c for c in customers],
            "ordered_at": pd.date_range("2023-01-01", periods=len(customers), freq="D"),
            "tier": [per_customer[c] for c in customers],
            "note": per_line,
        }
    )


def _oracle(frame: pd.DataFrame, column: str) -> bool:
    """A column depends on customer_id when each customer has one value (null counts), shown on
    at least 3 customers with two or more lines, and it is no constant (then it is ignored)."""
    per_customer = frame.groupby("customer_id")[column].nunique(dropna=False)
    repeated = (frame.groupby("customer_id").size() >= 2).sum()
    return bool((per_customer == 1).all() and repeated >= MIN_REPEATED and frame[column].dropna().nunique() >= 2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_flat_tables())
def test_attributes_are_exactly_the_columns_constant_per_entity(frame: pd.DataFrame) -> None:
    data = SourceData("memory", {"order_lines": pa.Table.from_pandas(frame, preserve_index=False)}, DeclaredKeys(), "x")
    schema = build_schema(data)
    made = schema.tables.get("customer_id")
    assert made is not None
    expected = [f"order_lines.{c}" for c in ("tier", "note") if _oracle(frame, c)]
    assert made.attributes == expected
    if expected:  # the made table carries each customer's one value
        tables = materialise(data.tables, schema)
        got = tables["customer_id"].to_pandas()
        columns = [e.split(".")[1] for e in expected]
        oracle = frame[["customer_id", *columns]].drop_duplicates().sort_values("customer_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got[["customer_id", *columns]], oracle, check_dtype=False)


def test_a_table_naming_the_entity_twice_gives_it_no_attributes(tmp_path: Path) -> None:
    folder = tmp_path / "tennis"
    folder.mkdir()
    pairs = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (2, 0), (3, 0), (3, 1)]
    rows = [(i, f"2023-01-{i + 1:02d}", won, ["Ann", "Bo", "Cy", "Di"][won], lost) for i, (won, lost) in enumerate(pairs)]
    pd.DataFrame(rows, columns=["match_id", "played_at", "winner_id", "winner_name", "loser_id"]).to_csv(
        folder / "matches.csv", index=False
    )
    both = '[tables.players]\nimplicit = ["matches.winner_id", "matches.loser_id"]\n'
    db = relgraph.connect(folder, schema=_schema_file(tmp_path, both))
    assert db.schema["players"].attributes == []  # winner_name names one of a row's two players
    assert relgraph.connect(folder).schema["winner_id"].attributes == ["matches.winner_name"]  # one role alone
    with pytest.raises(SchemaError, match="matches holds several source columns of players"):
        relgraph.connect(folder, schema=_schema_file(tmp_path, both + 'attributes = ["matches.winner_name"]\n'))
