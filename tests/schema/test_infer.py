"""build_schema on tiny hand-made sources: declared keys, inference rules, bad input."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relgraph.connectors.base import DeclaredKeys
from relgraph.errors import SchemaError
from relgraph.schema import SType, build_schema
from relgraph.schema.keys import MIN_COVERAGE


def fk_set(schema):
    return {(child, fk.column, fk.references_table, fk.references_column) for child, fk in schema.edges()}


def shop(make):
    """customers <- orders -> products; orders has a created_at and an updated_at."""
    return make(
        {
            "customers": {"customer_id": [1, 2, 3], "name": ["Ann Lee", "Bo Chen", "Cy Dorr"]},
            "products": {"id": ["p1", "p2"], "price": [1.5, 2.5]},
            "orders": {
                "order_id": [10, 11, 12, 13],
                "customer_id": [1, 2, 2, 3],
                "product_id": ["p1", "p2", "p1", "p1"],
                "quantity": [1, 5, 2, 1],
                "created_at": ["2024-01-01 10:00:00", "2024-01-02", "2024-01-03", "2024-01-04"],
                "updated_at": ["2024-06-01", "2024-06-01", "2024-06-02", "2024-06-03"],
            },
        }
    )


def test_infers_keys_times_and_evidence(source_factory):
    schema = build_schema(shop(source_factory))
    assert schema["customers"].primary_key == "customer_id"
    assert schema["products"].primary_key == "id"
    assert schema["orders"].primary_key == "order_id"
    assert schema["orders"].primary_key_inferred and "unique" in schema["orders"].primary_key_evidence
    assert fk_set(schema) == {
        ("orders", "customer_id", "customers", "customer_id"),
        ("orders", "product_id", "products", "id"),
    }
    for _, fk in schema.edges():
        assert fk.inferred and fk.coverage == 1.0 and fk.dangling == 0 and "found in" in fk.evidence
    time = schema["orders"].time
    assert time is not None and time.column == "created_at" and time.inherited_via is None
    assert "updated_at" in time.evidence  # the audit column was seen and passed over
    assert schema["customers"].time is None and schema["products"].time is None
    assert any("orders.updated_at" in w and "audit" in w for w in schema.warnings)
    order_types = {c.name: c.stype for c in schema["orders"].columns}
    assert order_types["order_id"] is SType.KEY and order_types["customer_id"] is SType.KEY
    assert order_types["quantity"] is SType.CATEGORICAL  # 3 distinct integers
    assert order_types["created_at"] is SType.TIMESTAMP


def test_primary_key_naming_variants(source_factory):
    data = source_factory(
        {
            "driver_standings": {"raceId": [1, 1], "driverStandingsId": [7, 8]},
            "qualifying": {"qualifyId": [1, 2], "position": [1, 2]},
            "people": {"person_id": ["a", "b"], "age": [3, 4]},
            "categories": {"CategoryID": [1, 2]},
            "events": {"amount": [1.0, 2.0], "kind": ["a", "b"]},  # no id-named column: no key
        }
    )
    schema = build_schema(data)
    assert schema["driver_standings"].primary_key == "driverStandingsId"
    assert schema["qualifying"].primary_key == "qualifyId"
    assert "resembles" in schema["qualifying"].primary_key_evidence
    assert schema["people"].primary_key == "person_id"
    assert schema["categories"].primary_key == "CategoryID"
    assert schema["events"].primary_key is None


def test_one_to_one_extension_keeps_its_reference(source_factory):
    """A unique column named as another table's id is a reference, not the table's own key."""
    data = source_factory(
        {"users": {"user_id": [1, 2, 3]}, "user_settings": {"user_id": [1, 3], "theme": ["dark", "light"]}}
    )
    schema = build_schema(data)
    assert schema["user_settings"].primary_key is None
    assert fk_set(schema) == {("user_settings", "user_id", "users", "user_id")}


def test_self_references_and_parallel_foreign_keys(source_factory):
    data = source_factory(
        {
            "employees": {"id": [1, 2, 3, 4], "manager_id": [None, 1, 1, 2]},
            "posts": {"Id": [1, 2, 3], "ParentId": [None, 1, 1], "OwnerUserId": [5, 6, 5]},
            "users": {"Id": [5, 6]},
            "teams": {"team_id": [1, 2, 3]},
            "matches": {"match_id": [1, 2], "home_team_id": [1, 2], "away_team_id": [3, 1], "round": [1, 2]},
        }
    )
    schema = build_schema(data)
    assert fk_set(schema) == {
        ("employees", "manager_id", "employees", "id"),
        ("posts", "ParentId", "posts", "Id"),
        ("posts", "OwnerUserId", "users", "Id"),
        ("matches", "home_team_id", "teams", "team_id"),
        ("matches", "away_team_id", "teams", "team_id"),
    }
    assert "self-reference" in next(fk for _, fk in schema.edges() if fk.column == "manager_id").evidence


def test_low_coverage_and_unnamed_integer_columns_are_no_foreign_keys(source_factory):
    data = source_factory(
        {
            "status": {"statusId": [1, 2, 3, 4, 5]},
            "laps": {
                "lapId": [1, 2, 3, 4, 5],
                "position": [1, 2, 3, 4, 5],  # values all in status.statusId, but the name says nothing
                "statusId": [1, 9, 8, 7, 6],  # named right, 20 % coverage
            },
        }
    )
    assert fk_set(build_schema(data)) == set()


def test_dangling_values_are_counted_and_warned(source_factory):
    data = source_factory(
        {
            "users": {"user_id": list(range(10))},
            "votes": {"vote_id": list(range(10)), "user_id": [0, 1, 2, 3, 4, 5, 6, 7, 8, 99]},
        }
    )
    schema = build_schema(data)
    (fk,) = schema["votes"].foreign_keys
    assert fk.coverage == pytest.approx(0.9) and fk.dangling == 1
    assert any(w.startswith("votes.user_id: 1 values") for w in schema.warnings)


def test_birth_dates_are_features_and_date_plus_clock_time_is_combined(source_factory):
    data = source_factory(
        {
            "drivers": {"driverId": [1, 2], "dob": [dt.date(1985, 1, 7), dt.date(1977, 5, 10)]},
            "races": {
                "raceId": [1, 2, 3],
                "date": ["2009-03-29", "2009-04-05", "2009-04-19"],
                "time": ["06:00:00", None, "07:30:00"],
                "fp1_date": ["2009-03-27", None, None],
            },
            "results": {
                "resultId": [1, 2, 3],
                "raceId": [1, 2, 3],
                "driverId": [1, 2, 1],
                "time": ["1:34:50", "+5.4", None],
            },
        }
    )
    schema = build_schema(data)
    assert schema["drivers"].time is None
    assert "birth date" in schema["drivers"].time_evidence
    assert {c.name: c.stype for c in schema["drivers"].columns}["dob"] is SType.TIMESTAMP
    races = schema["races"].time
    assert races is not None and (races.column, races.time_of_day_column) == ("date", "time")
    results = schema["results"].time
    assert results is not None
    assert (results.inherited_via, results.parent_table, results.inferred) == ("raceId", "races", True)
    assert "only timed parent" in results.evidence


def test_several_timed_parents_none_latest_pick_none_and_warn(source_factory):
    data = source_factory(
        {
            "a": {"a_id": [1, 2], "created": ["2020-01-01", "2022-01-02"]},
            "b": {"b_id": [1, 2], "created": ["2021-01-01", "2021-01-02"]},
            # each parent is the later one for half of the rows: neither can be picked
            "links": {"link_id": [1, 2], "a_id": [1, 2], "b_id": [2, 1]},
            "notes": {"note_id": [1], "link_id": [1]},  # its only parent is static: static too
        }
    )
    schema = build_schema(data)
    assert schema["links"].time is None
    assert "several timed parents" in schema["links"].time_evidence
    assert any(w.startswith("links:") and "inherit_via" in w for w in schema.warnings)
    assert schema["notes"].time is None


def test_inherited_time_chains_through_an_inheriting_parent(source_factory):
    data = source_factory(
        {
            "orders": {"order_id": [1, 2], "order_date": ["2020-01-01", "2020-02-01"]},
            "order_items": {"order_item_id": [1, 2, 3], "order_id": [1, 2, 2]},
            "item_notes": {"item_note_id": [1], "order_item_id": [3]},
        }
    )
    schema = build_schema(data)
    assert schema["order_items"].time.parent_table == "orders"
    notes = schema["item_notes"].time
    assert notes is not None and (notes.inherited_via, notes.parent_table) == ("order_item_id", "order_items")


def test_audit_column_is_never_the_row_time(source_factory):
    """Issue #12 class 5: an audit column alone does not make a table timed (it used to, with a warning)."""
    data = source_factory(
        {"film": {"film_id": [1, 2], "last_update": ["2006-02-15 05:03:42", "2006-02-15 05:03:42"]}}
    )
    schema = build_schema(data)
    assert schema["film"].time is None
    assert "audit column" in schema["film"].time_evidence and "static" in schema["film"].time_evidence


def test_parents_created_after_children_are_warned(source_factory):
    data = source_factory(
        {
            "users": {"user_id": [1, 2], "created": ["2020-01-01", "2020-06-01"]},
            "posts": {
                "post_id": [1, 2, 3],
                "user_id": [1, 2, 2],
                "created": ["2020-02-01", "2020-05-01", "2020-07-01"],
            },
        }
    )
    schema = build_schema(data)
    assert any(w.startswith("posts.user_id: 1 of 3 rows") and "older" in w for w in schema.warnings)


def test_semantic_types(source_factory):
    n = 60
    data = source_factory(
        {
            "items": {
                "item_id": list(range(n)),
                "flag": [i % 2 == 0 for i in range(n)],
                "stars": [i % 5 for i in range(n)],
                "views": list(range(1000, 1000 + n)),
                "score": [i / 7 for i in range(n)],
                "tags": [f"<t{i % 3}><t{i % 4}>" for i in range(n)],
                "colour": [["red", "green", "blue"][i % 3] for i in range(n)],
                "slug": [f"item-{i}" for i in range(n)],
                "body": [f"a long description number {i} of this item, with words" for i in range(n)],
                "constant": ["x"] * n,
                "empty": pa.nulls(n, pa.string()),
                "seen": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
            }
        }
    )
    stypes = {c.name: c.stype for c in build_schema(data)["items"].columns}
    assert stypes == {
        "item_id": SType.KEY,
        "flag": SType.CATEGORICAL,
        "stars": SType.CATEGORICAL,
        "views": SType.NUMERICAL,
        "score": SType.NUMERICAL,
        "tags": SType.MULTICATEGORICAL,
        "colour": SType.CATEGORICAL,
        "slug": SType.IGNORED,
        "body": SType.TEXT,
        "constant": SType.IGNORED,
        "empty": SType.IGNORED,
        "seen": SType.TIMESTAMP,
    }


def test_declared_keys_are_trusted_and_stop_foreign_key_inference(source_factory):
    declared = DeclaredKeys(
        primary_keys={"races": "raceId", "results": "resultId"},
        foreign_keys={"results": [("raceId", "races", "raceId")]},
        time_columns={"races": "date"},
    )
    data = source_factory(
        {
            "races": {"raceId": [1, 2], "date": [dt.datetime(2020, 1, 1), dt.datetime(2020, 2, 1)]},
            "results": {"resultId": [1, 2], "raceId": [1, 2], "driverId": [3, 4]},
            "drivers": {"driverId": [3, 4]},
        },
        declared,
    )
    schema = build_schema(data)
    assert fk_set(schema) == {("results", "raceId", "races", "raceId")}  # driverId not inferred
    assert schema["drivers"].primary_key is None  # keys fully declared: none for drivers
    assert not schema["results"].primary_key_inferred
    assert schema["races"].time.column == "date" and not schema["races"].time.inferred
    assert schema["results"].time is None  # declared times are complete (RelBench)


@pytest.mark.parametrize(
    ("tables", "declared", "message"),
    [
        (
            {"t": {"id": [1, 1, 2]}},
            DeclaredKeys(primary_keys={"t": "id"}),
            r"^t\.id: primary key has 1 duplicate values \(e\.g\. 1\)",
        ),
        (
            {"t": {"id": [1, None]}},
            DeclaredKeys(primary_keys={"t": "id"}),
            r"^t\.id: primary key has 1 NULL values",
        ),
        (
            {"t": {"x": [1]}},
            DeclaredKeys(primary_keys={"t": "idx"}),
            r"^t: declared primary key 'idx' is not a column \(did you mean 'x'\?\)",
        ),
        (
            {"t": {"id": [1], "p_id": [1]}, "parents": {"id": [1]}},
            DeclaredKeys(foreign_keys={"t": [("p_id", "parent", "id")]}),
            r"^t\.p_id: references missing table 'parent' \(did you mean 'parents'\?\)",
        ),
        (
            {"t": {"id": [1], "p_id": [1]}, "parents": {"id": [1]}},
            DeclaredKeys(foreign_keys={"t": [("p_id", "parents", "pid")]}),
            r"^t\.p_id: references missing column parents\.pid",
        ),
        (
            {"t": {"id": [1], "p_id": [1]}, "parents": {"id": [1, 1]}},
            DeclaredKeys(foreign_keys={"t": [("p_id", "parents", "id")]}),
            r"^t\.p_id: references parents\.id, which is not unique",
        ),
        (
            {"t": {"id": [1, 2], "at": ["2020-01-01", "yesterday"]}},
            DeclaredKeys(time_columns={"t": "at"}),
            r"^t\.at: 1 time values do not parse, e\.g\. 'yesterday'",
        ),
        (
            {"t": {"id": [1, 2], "at": [1, 2]}},
            DeclaredKeys(time_columns={"t": "at"}),
            r"^t\.at: 2 int64 values are not Unix epoch times",
        ),
    ],
)
def test_bad_declarations_raise_one_line_naming_the_column(source_factory, tables, declared, message):
    data = source_factory(tables, declared)
    before = {name: table.to_pydict() for name, table in data.tables.items()}
    with pytest.raises(SchemaError, match=message) as err:
        build_schema(data)
    assert "\n" not in str(err.value)
    assert {name: table.to_pydict() for name, table in data.tables.items()} == before


def test_reserved_words_and_non_ascii_names(source_factory):
    data = source_factory(
        {
            "order": {"order_id": [1, 2], "group": ["a", "b"], "select": ["2020-01-01", "2020-01-02"]},
            "größe": {"größe_id": [1, 2, 3], "order_id": [1, 2, 2], "名前": ["x", "y", "z"]},
        }
    )
    schema = build_schema(data)
    assert schema["order"].primary_key == "order_id"
    assert schema["größe"].primary_key == "größe_id"
    assert fk_set(schema) == {("größe", "order_id", "order", "order_id")}
    assert schema["größe"].time.parent_table == "order"


def test_date_only_children_are_compared_by_day(source_factory):
    """A vote dated 2020-01-02 (no clock) on a post created 2020-01-02 15:00 is not older than its post."""
    data = source_factory(
        {
            "posts": {"post_id": [1, 2], "created": ["2020-01-02 15:00:00", "2020-01-05 09:00:00"]},
            "votes": {"vote_id": [1, 2], "post_id": [1, 2], "created": ["2020-01-02", "2020-01-04"]},
        }
    )
    warnings = [w for w in build_schema(data).warnings if w.startswith("votes.post_id")]
    assert warnings == [
        "votes.post_id: 1 of 2 rows (50.0%) are older than their posts row (parent created after its child)"
    ]


def test_declared_composite_keys_are_honoured(source_factory):
    declared = DeclaredKeys(primary_keys={"a": "a_id"})
    declared.composite.primary_keys["pairs"] = ["x", "y"]
    declared.composite.foreign_keys["refs"] = [(["rx", "ry"], "pairs", ["x", "y"])]
    data = source_factory(
        {
            "a": {"a_id": [1]},
            "pairs": {"x": [1, 1, 2], "y": [1, 2, 1]},
            "refs": {"rx": [1, 2, 2, None], "ry": [2, 1, 2, 1]},
        },
        declared,
    )
    schema = build_schema(data)
    assert schema["pairs"].primary_key is None and schema["pairs"].composite_key == ["x", "y"]
    (fk,) = schema["refs"].composite_foreign_keys
    assert (fk.columns, fk.references_table, fk.references_columns) == (["rx", "ry"], "pairs", ["x", "y"])
    assert fk.coverage == pytest.approx(2 / 3) and fk.dangling == 1 and not fk.inferred


def test_declared_composite_key_with_duplicates_fails_in_one_line(source_factory):
    declared = DeclaredKeys()
    declared.composite.primary_keys["pairs"] = ["x", "y"]
    data = source_factory({"pairs": {"x": [1, 1], "y": [2, 2]}}, declared)
    with pytest.raises(SchemaError, match=r"^pairs\.\(x, y\): composite primary key has 1 duplicate rows"):
        build_schema(data)


def test_whole_number_float_references_are_linked(source_factory):
    """Integer ids with nulls that went through pandas arrive as floats (3.0); they still reference."""
    data = source_factory(
        {
            "users": {"user_id": [1, 2, 3], "joined": ["2020-01-01", "2020-01-02", "2020-01-03"]},
            "logins": {"login_id": [1, 2, 3], "user_id": [1.0, None, 3.0]},
            "scores": {"score_id": [1, 2], "user_id": [1.5, 2.0]},  # not whole numbers: a measurement
        }
    )
    schema = build_schema(data)
    assert fk_set(schema) == {("logins", "user_id", "users", "user_id")}
    assert schema["logins"].time.inherited_via == "user_id"


# source_factory only returns a builder function, so sharing it across examples is safe.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parent_ids=st.lists(st.integers(-5, 60), min_size=1, max_size=25, unique=True),
    child_refs=st.lists(st.one_of(st.none(), st.integers(-5, 80)), min_size=1, max_size=40),
)
def test_foreign_key_inferred_exactly_when_coverage_is_high_enough(source_factory, parent_ids, child_refs):
    data = source_factory(
        {
            "accounts": {"account_id": parent_ids},
            "payments": {
                "payment_id": list(range(len(child_refs))),
                "account_id": pa.array(child_refs, pa.int64()),
            },
        }
    )
    schema = build_schema(data)
    known = [r for r in child_refs if r is not None]
    coverage = sum(r in set(parent_ids) for r in known) / len(known) if known else None
    fks = schema["payments"].foreign_keys
    if coverage is None or coverage < MIN_COVERAGE:
        assert fks == []
    else:
        (fk,) = fks
        assert fk.coverage == pytest.approx(coverage) and fk.dangling == sum(
            r not in set(parent_ids) for r in known
        )


def test_several_timed_parents_inherit_the_latest() -> None:
    """An order item belongs to an order and a product: it exists from the later of the two (the order)."""
    import pyarrow as pa

    from relgraph.connectors.base import DeclaredKeys, SourceData
    from relgraph.database import Database
    from relgraph.schema import build_schema

    tables = {
        "products": pa.table({"product_id": [1, 2], "created_at": pa.array(["2020-01-01", "2020-02-01"]).cast(pa.timestamp("s"))}),
        "orders": pa.table({"order_id": [10, 11, 12], "ordered_at": pa.array(["2021-01-05", "2021-03-01", "2021-06-01"]).cast(pa.timestamp("s"))}),
        "order_items": pa.table({"item_id": [100, 101, 102, 103], "order_id": [10, 11, 12, 12], "product_id": [1, 2, 1, 2]}),
    }
    declared = DeclaredKeys(
        primary_keys={"products": "product_id", "orders": "order_id", "order_items": "item_id"},
        foreign_keys={"order_items": [("order_id", "orders", "order_id"), ("product_id", "products", "product_id")]},
    )
    data = SourceData("mem", tables, declared, "fp")
    schema = build_schema(data)
    time = schema["order_items"].time
    assert time is not None and time.inherited_via == "order_id" and time.parent_table == "orders"
    assert "latest of its timed parents" in time.evidence
    times = Database(data, schema).row_times("order_items")
    assert list(times.astype("datetime64[D]").astype(str)) == ["2021-01-05", "2021-03-01", "2021-06-01", "2021-06-01"]

    # When no parent is the latest for most rows, the table stays static and a warning says how to choose.
    tables["orders"] = pa.table({"order_id": [10, 11, 12], "ordered_at": pa.array(["2019-01-05", "2021-03-01", "2019-06-01"]).cast(pa.timestamp("s"))})
    schema = build_schema(SourceData("mem", tables, declared, "fp2"))
    assert schema["order_items"].time is None
    assert any("order_items" in w and "inherit_via" in w for w in schema.warnings)


def test_columns_that_look_ahead_are_not_features(source_factory):
    """A last-edit or closing time can be later than the row: as a feature it would reveal the future."""
    data = source_factory(
        {
            "posts": {
                "post_id": [1, 2, 3, 4],
                "created_at": ["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"],
                "closed_on": ["2021-01-01", "2020-02-01", "2023-03-01", "2020-04-01"],
                "last_update": ["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"],
                "first_seen": ["2019-01-01", "2019-02-01", "2019-03-01", "2019-04-01"],
            }
        }
    )
    schema = build_schema(data)
    posts = schema["posts"]
    assert posts.time_column == "created_at"
    assert posts.column("closed_on").stype is SType.IGNORED  # by data: later than the row time
    assert posts.column("last_update").stype is SType.IGNORED  # by name: an audit column
    assert posts.column("first_seen").stype is SType.TIMESTAMP
    assert any(w.startswith("posts.closed_on") for w in schema.warnings)


def test_declared_snapshot_columns_are_not_features(source_factory):
    """A source can say a column holds its value as of the export (a score to date): never a feature."""
    data = source_factory({"posts": {"post_id": [1, 2], "created": ["2020-01-01", "2020-02-01"], "score": [5, 9]}})
    data.declared.snapshot_columns["posts"] = {"score": "value as of the export date"}
    column = build_schema(data)["posts"].column("score")
    assert column.stype is SType.IGNORED and "export date" in column.evidence


def _era_posts(licence: list[str]) -> dict[str, dict[str, list]]:
    days = [f"20{10 + i // 12:02d}-{i % 12 + 1:02d}-01" for i in range(len(licence))]
    kind = ["question", "answer", "answer", "wiki"] * (len(licence) // 4)
    return {"posts": {"post_id": list(range(1, len(licence) + 1)), "created_at": days, "licence": licence, "kind": kind}}


def test_era_columns_are_not_features(source_factory):
    """A licence version that changes once in time marks when a row is: later periods bring values
    no training row had, so it is not a feature; a kind mixed over all periods stays categorical."""
    licence = ["CC 2.5"] * 16 + ["CC 3.0"] * 40 + ["CC 4.0"] * 24
    schema = build_schema(source_factory(_era_posts(licence)))
    posts = schema["posts"]
    assert posts.column("licence").stype is SType.IGNORED
    assert "own period" in posts.column("licence").evidence
    assert posts.column("kind").stype is SType.CATEGORICAL
    assert any(w.startswith("posts.licence: each value keeps to its own period") for w in schema.warnings)
    # Interleaved values (the same licences, shuffled in time) are an ordinary categorical.
    mixed = [licence[(i * 37) % len(licence)] for i in range(len(licence))]
    assert build_schema(source_factory(_era_posts(mixed)))["posts"].column("licence").stype is SType.CATEGORICAL


def test_era_column_kept_when_the_schema_file_says_so(source_factory, tmp_path):
    licence = ["v1"] * 40 + ["v2"] * 40
    path = tmp_path / "schema.toml"
    path.write_text('[tables.posts.stypes]\nlicence = "categorical"\n')
    schema = build_schema(source_factory(_era_posts(licence)), schema_file=path)
    assert schema["posts"].column("licence").stype is SType.CATEGORICAL


def test_uuid_strings_are_identifiers(source_factory):
    """Revision GUIDs repeat (several history rows per edit) but are ids, not text or categories."""
    guids = [f"{i:08x}-1c2d-4e5f-8a9b-{i * 7919:012x}" for i in range(30)] * 2
    schema = build_schema(source_factory({"history": {"history_id": list(range(60)), "revision": guids}}))
    column = schema["history"].column("revision")
    assert column.stype is SType.IGNORED and "UUID" in column.evidence
