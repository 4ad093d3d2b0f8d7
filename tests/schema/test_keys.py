"""Keys and references nobody named: keys by references (ISBN), references by role (winner_id,
reports_to, ship_via), composite keys (order lines, weather by airport and hour), and the schema
file entries that correct each inference. Fixture databases are tiny SQLite files without
constraints, modelled on public schemas (ATP/Lahman-style tennis, Northwind, a book shop).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relgraph
from relgraph.errors import SchemaError
from relgraph.schema import Schema, write_schema


def make_sqlite(path: Path, tables: dict[str, dict[str, list[Any]]]) -> str:
    """A SQLite file with plain tables (no key constraints, as a dump delivers them)."""
    con = sqlite3.connect(path)
    with con:
        for name, columns in tables.items():
            names = list(columns)
            con.execute(f'CREATE TABLE "{name}" ({", ".join(f"{c!r}" for c in names)})')
            rows = list(zip(*(columns[c] for c in names)))
            con.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(names))})', rows)
    con.close()
    return f"sqlite:///{path}"


def fks(schema: Schema) -> set[tuple[str, str, str, str]]:
    return {(child, fk.column, fk.references_table, fk.references_column) for child, fk in schema.edges()}


def composite_fks(schema: Schema) -> set[tuple[str, tuple[str, ...], str, tuple[str, ...]]]:
    return {
        (child, tuple(fk.columns), fk.references_table, tuple(fk.references_columns))
        for child, fk in schema.composite_edges()
    }


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schema.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- class 1: keys not called id


@pytest.fixture
def books(tmp_path: Path) -> str:
    """Books keyed by ISBN strings; reviews name it, wishlist items point into it by value only."""
    rng = np.random.default_rng(1)
    isbns = [f"978-0-{306 + i:03d}-{40615 + 7 * i:05d}-{i % 10}" for i in range(40)]
    return make_sqlite(
        tmp_path / "books.db",
        {
            "books": {
                "isbn": isbns,
                "title": [f"Title {i}" for i in range(40)],  # unique too, but nothing points into it
                "pages": rng.integers(80, 900, 40).tolist(),
                "published": [f"{1990 + i % 30}-01-01" for i in range(40)],
            },
            "reviews": {
                "review_id": list(range(1, 201)),
                "isbn": [isbns[i] for i in rng.integers(0, 40, 200)],
                "stars": rng.integers(1, 6, 200).tolist(),
                "posted": [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(200)],
            },
            "wishlist": {
                "entry_id": list(range(1, 61)),
                "item": [isbns[i] for i in rng.integers(0, 40, 60)],
                "priority": rng.integers(1, 4, 60).tolist(),
            },
        },
    )


def test_string_key_found_through_the_values_pointing_into_it(books):
    schema = relgraph.connect(books).schema
    assert schema["books"].primary_key == "isbn" and schema["books"].primary_key_inferred
    assert "reviews.isbn" in schema["books"].primary_key_evidence
    assert fks(schema) == {("reviews", "isbn", "books", "isbn"), ("wishlist", "item", "books", "isbn")}
    assert "values found in books.isbn" in schema["wishlist"].foreign_keys[0].evidence


def test_unique_column_nobody_points_into_is_no_key(tmp_path):
    url = make_sqlite(tmp_path / "lonely.db", {"colours": {"name": ["red", "green"], "hex": ["f00", "0f0"]}})
    assert relgraph.connect(url).schema["colours"].primary_key is None


def test_wrong_key_is_overridden_in_the_schema_file(books, tmp_path):
    path = write_toml(tmp_path, '[tables.wishlist]\nnot_foreign_keys = ["item"]\n')
    schema = relgraph.connect(books, schema=path).schema
    assert fks(schema) == {("reviews", "isbn", "books", "isbn")}


# ----------------------------------------------------------------------------- class 2: references by role


@pytest.fixture
def tennis(tmp_path: Path) -> str:
    """ATP-style: matches name two players by role; ranks, ages and minutes are small integers."""
    rng = np.random.default_rng(2)
    n_players, n_matches = 60, 300
    winners = rng.integers(1, n_players + 1, n_matches)
    losers = (winners + rng.integers(1, n_players, n_matches) - 1) % n_players + 1
    return make_sqlite(
        tmp_path / "tennis.db",
        {
            "players": {
                "player_id": list(range(1, n_players + 1)),
                "name": [f"Player {i}" for i in range(n_players)],
                "hand": rng.choice(["R", "L"], n_players).tolist(),
            },
            "tournaments": {
                "tourney_id": list(range(1, 21)),
                "surface": rng.choice(["Hard", "Clay", "Grass"], 20).tolist(),
            },
            "matches": {
                "match_id": list(range(1, n_matches + 1)),
                "tourney_id": rng.integers(1, 21, n_matches).tolist(),
                "winner_id": winners.tolist(),
                "loser_id": losers.tolist(),
                "winner_rank": rng.integers(1, 60, n_matches).tolist(),  # inside 1..60: not a reference
                "best_of": rng.choice([3, 5], n_matches).tolist(),
                "minutes": rng.integers(50, 250, n_matches).tolist(),
                "match_date": [f"2019-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n_matches)],
            },
        },
    )


def test_two_roles_to_one_table_are_two_references_and_small_integers_are_not(tennis):
    schema = relgraph.connect(tennis).schema
    assert fks(schema) == {
        ("matches", "tourney_id", "tournaments", "tourney_id"),
        ("matches", "winner_id", "players", "player_id"),
        ("matches", "loser_id", "players", "player_id"),
    }
    rejected = {(r.table, r.columns[0]) for r in schema.rejected_keys}
    assert ("matches", "winner_rank") in rejected


def test_inspect_verbose_says_why_a_candidate_was_turned_down(tennis, capsys):
    from relgraph.cli.main import main

    assert main(["inspect", tennis, "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "key candidates turned down" in out
    assert "matches.winner_rank -> players.player_id" in out and "says no reference" in out


def test_wrong_role_reference_is_replaced_in_the_schema_file(tennis, tmp_path):
    path = write_toml(
        tmp_path,
        '[tables.matches]\nforeign_keys = [{ column = "winner_id", references = "players.player_id" }]\n',
    )
    schema = relgraph.connect(tennis, schema=path).schema
    assert fks(schema) == {("matches", "winner_id", "players", "player_id")}


@pytest.fixture
def northwind(tmp_path: Path) -> str:
    """Northwind-like: reports_to (self), ship_via (shippers), order lines keyed by (order_id, product_id)."""
    rng = np.random.default_rng(3)
    order_ids = list(range(10248, 10348))
    lines = sorted({(o, int(p)) for o in order_ids for p in rng.choice(np.arange(1, 21), 3, replace=False)})
    return make_sqlite(
        tmp_path / "northwind.db",
        {
            "employees": {
                "employee_id": list(range(1, 10)),
                "last_name": [
                    "Davolio",
                    "Fuller",
                    "Leverling",
                    "Peacock",
                    "Buchanan",
                    "Suyama",
                    "King",
                    "Callahan",
                    "Dodsworth",
                ],
                "reports_to": [2, None, 2, 2, 2, 5, 5, 2, 5],
            },
            "shippers": {"shipper_id": [1, 2, 3], "company_name": ["Speedy", "United", "Federal"]},
            "products": {
                "product_id": list(range(1, 21)),
                "product_name": [f"Product {i}" for i in range(20)],
                "units_in_stock": rng.integers(0, 20, 20).tolist(),
            },
            "orders": {
                "order_id": order_ids,
                "employee_id": rng.integers(1, 10, 100).tolist(),
                "order_date": [f"1997-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(100)],
                "ship_via": rng.integers(1, 4, 100).tolist(),
                "freight": rng.random(100).round(2).tolist(),
            },
            "order_details": {
                "order_id": [o for o, _ in lines],
                "product_id": [p for _, p in lines],
                "quantity": rng.integers(1, 10, len(lines)).tolist(),
                "discount": [0.0] * len(lines),
            },
        },
    )


def test_northwind_roles_self_reference_and_link_table_key(northwind):
    schema = relgraph.connect(northwind).schema
    assert fks(schema) == {
        ("employees", "reports_to", "employees", "employee_id"),
        ("orders", "employee_id", "employees", "employee_id"),
        ("orders", "ship_via", "shippers", "shipper_id"),
        ("order_details", "order_id", "orders", "order_id"),
        ("order_details", "product_id", "products", "product_id"),
    }
    details = schema["order_details"]
    assert details.primary_key is None and details.composite_key == ["order_id", "product_id"]
    assert "link table" in details.primary_key_evidence


def test_rejecting_a_role_reference_and_declaring_a_key_in_the_schema_file(northwind, tmp_path):
    path = write_toml(
        tmp_path,
        '[tables.orders]\nnot_foreign_keys = ["ship_via"]\n[tables.order_details]\nprimary_key = false\n',
    )
    schema = relgraph.connect(northwind, schema=path).schema
    assert ("orders", "ship_via", "shippers", "shipper_id") not in fks(schema)
    assert schema["order_details"].key_columns == []


# ----------------------------------------------------------------------------- class 3: composite keys


@pytest.fixture
def flights(tmp_path: Path) -> str:
    """nycflights13 in miniature: weather keyed by (origin, time_hour) as ISO strings."""
    hours = [f"2013-01-01T{h:02d}:00:00Z" for h in range(6, 12)]
    origins = ["EWR", "JFK", "LGA"]
    weather = [(o, h) for o in origins for h in hours]
    rng = np.random.default_rng(4)
    picks = rng.integers(0, len(weather), 80)
    return make_sqlite(
        tmp_path / "flights.db",
        {
            "airports": {"faa": ["EWR", "JFK", "LGA", "BOS", "ORD", "ATL"], "name": list("abcdef")},
            "weather": {
                "origin": [o for o, _ in weather],
                "time_hour": [h for _, h in weather],
                "temp": rng.normal(40, 5, len(weather)).round(1).tolist(),
            },
            "flights": {
                "origin": [weather[i][0] for i in picks],
                "dest": rng.choice(["BOS", "ORD", "ATL"], 80).tolist(),
                "time_hour": [
                    weather[i][1] if k % 20 else "2013-01-02T01:00:00Z" for k, i in enumerate(picks)
                ],
                "distance": rng.integers(100, 2000, 80).tolist(),
            },
        },
    )


def test_composite_key_and_reference_on_raw_string_values(flights):
    schema = relgraph.connect(flights).schema
    assert schema["weather"].composite_key == ["origin", "time_hour"]
    assert composite_fks(schema) == {("flights", ("origin", "time_hour"), "weather", ("origin", "time_hour"))}
    (fk,) = schema["flights"].composite_foreign_keys
    assert fk.coverage == pytest.approx(76 / 80) and fk.dangling == 4
    assert fks(schema) == {
        ("flights", "origin", "airports", "faa"),
        ("flights", "dest", "airports", "faa"),
        ("weather", "origin", "airports", "faa"),
    }


def test_composite_keys_declared_and_rejected_in_the_schema_file_round_trip(flights, tmp_path):
    inferred = relgraph.connect(flights).schema
    written = tmp_path / "written.toml"
    write_schema(inferred, written)
    again = relgraph.connect(flights, schema=written).schema
    assert again["weather"].composite_key == ["origin", "time_hour"]
    assert composite_fks(again) == composite_fks(inferred) and fks(again) == fks(inferred)

    path = write_toml(tmp_path, '[tables.flights]\nnot_foreign_keys = [["origin", "time_hour"]]\n')
    schema = relgraph.connect(flights, schema=path).schema
    assert composite_fks(schema) == set() and schema["weather"].composite_key is None

    path = write_toml(
        tmp_path,
        '[tables.weather]\nprimary_key = ["origin", "time_hour"]\n'
        '[tables.flights]\nforeign_keys = [{ columns = ["origin", "time_hour"], references = "weather" }]\n',
    )
    schema = relgraph.connect(flights, schema=path).schema
    assert composite_fks(schema) == {("flights", ("origin", "time_hour"), "weather", ("origin", "time_hour"))}
    assert fks(schema) == {("weather", "origin", "airports", "faa")}  # flights' list replaces its references


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tables.weather]\nprimary_key = ["origin"]\n', "a composite key is a list of two or more"),
        ('[tables.weather]\nprimary_key = ["origin", "temp_c"]\n', "column weather.temp_c does not exist"),
        (
            '[tables.flights]\nprimary_key = ["origin", "dest"]\n',
            r"flights.(origin, dest): composite primary key has",
        ),
        (
            '[tables.flights]\nforeign_keys = [{ columns = ["origin", "time_hour"], references = "airports" }]\n',
            "airports has no composite key of 2 columns to reference",
        ),
        (
            '[tables.flights]\nforeign_keys = [{ columns = ["origin", "time_hour"], references = "wether" }]\n',
            "references missing table 'wether' (did you mean 'weather'?)",
        ),
        ("[tables.flights]\nnot_foreign_keys = [3]\n", "not_foreign_keys[0]: expected a column name"),
    ],
)
def test_bad_composite_entries_fail_in_one_line(flights, tmp_path, text, message):
    with pytest.raises(SchemaError) as err:
        relgraph.connect(flights, schema=write_toml(tmp_path, text)).schema  # noqa: B018
    assert message in str(err.value) and "\n" not in str(err.value)


def test_consumers_that_follow_one_column_keys_say_what_they_skip(flights):
    from relgraph.errors import QueryError
    from relgraph.query import parse, validate

    schema = relgraph.connect(flights).schema
    assert any(
        w.startswith("flights (origin, time_hour) -> weather: a composite reference")
        and "LightGBM features and PQL paths" in w
        for w in schema.warnings
    )
    query = parse("PREDICT COUNT(flights.*, 0, 1, days) > 0 FOR EACH weather.time_hour")
    with pytest.raises(QueryError, match=r"weather is keyed by \(origin, time_hour\), a composite key"):
        validate(query, schema)


@pytest.mark.postgres
def test_declared_composite_keys_in_postgres_are_keys_and_edges(pg_scratch):
    import pyarrow as pa

    from relgraph.graph import build_graph

    hours = ["2013-01-01 06:00:00", "2013-01-01 07:00:00"]
    pg_scratch.load(
        {
            "airports": pa.table({"faa": ["EWR", "JFK"]}),
            "weather": pa.table(
                {"origin": ["EWR", "EWR", "JFK", "JFK"], "time_hour": hours * 2, "temp": [1.0, 2, 3, 4]}
            ),
            "flights": pa.table(
                {
                    "flight_id": [1, 2, 3],
                    "origin": ["JFK", "EWR", "JFK"],
                    "time_hour": [hours[1], hours[0], hours[0]],
                }
            ),
        },
        primary_keys={"airports": "faa", "flights": "flight_id"},
        foreign_keys={"weather": [("origin", "airports", "faa")]},
    )
    weather, flights = pg_scratch.qualifier + '"weather"', pg_scratch.qualifier + '"flights"'
    pg_scratch.execute(f"ALTER TABLE {weather} ADD PRIMARY KEY (origin, time_hour)")
    pg_scratch.execute(
        f"ALTER TABLE {flights} ADD FOREIGN KEY (origin, time_hour) REFERENCES {weather} (origin, time_hour)"
    )
    db = relgraph.connect(pg_scratch.url)
    assert db.schema["weather"].composite_key == ["origin", "time_hour"]
    (fk,) = db.schema["flights"].composite_foreign_keys
    assert fk.references_table == "weather" and fk.coverage == 1.0 and not fk.inferred
    edges = build_graph(db, cache_dir=None).edge_index[("flights", "origin+time_hour", "weather")]
    np.testing.assert_array_equal(edges, [[0, 1, 2], [3, 0, 2]])


def test_inspect_json_carries_composite_keys_and_rejected_candidates(flights, capsys):
    import json

    from relgraph.cli.main import main

    assert main(["inspect", flights, "--json", "--verbose"]) == 0
    document = json.loads(capsys.readouterr().out)
    tables = {t["name"]: t for t in document["tables"]}
    assert tables["weather"]["composite_key"] == ["origin", "time_hour"]
    (fk,) = tables["flights"]["composite_foreign_keys"]
    assert fk["columns"] == ["origin", "time_hour"] and fk["references_table"] == "weather"
    assert isinstance(document["rejected_keys"], list)
    assert main(["inspect", flights, "--json"]) == 0
    assert "rejected_keys" not in json.loads(capsys.readouterr().out)


@settings(max_examples=60, deadline=None)
@given(
    parent=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 4)), min_size=1, unique=True),
    child=st.lists(
        st.tuples(st.one_of(st.none(), st.sampled_from(["a", "b", "d"])), st.integers(0, 6)), min_size=1
    ),
)
def test_tuple_containment_counts_exactly_the_tuples_found(parent, child):
    import pyarrow as pa
    import pyarrow.compute as pc

    from relgraph.schema.keys import tuple_codes, tuple_containment

    parent_columns = [pa.chunked_array([pa.array([p[i] for p in parent])]) for i in (0, 1)]
    child_columns = [
        pa.chunked_array([pa.array([c[i] for c in child], pa.string() if i == 0 else None)]) for i in (0, 1)
    ]
    complete = [c for c in child if c[0] is not None]
    found = sum(c in set(parent) for c in complete)
    coverage, dangling = tuple_containment(child_columns, parent_columns)
    assert dangling == len(complete) - found
    assert coverage == (pytest.approx(found / len(complete)) if complete else 1.0)
    child_codes, parent_codes = tuple_codes(child_columns, parent_columns)
    positions = pc.index_in(child_codes, value_set=parent_codes).to_pylist()
    assert [parent[p] if p is not None else None for p in positions] == [
        c if c in set(parent) else None for c in child
    ]


def test_one_to_one_pairs_are_no_composite_reference(tmp_path: Path) -> None:
    """Employees-style tables: dept_emp and salaries share (emp_no, from_date) row for row (hire
    date = first salary); a pair unique on both sides is two records of one employee, no reference."""
    path = tmp_path / "hr.db"
    con = sqlite3.connect(path)
    con.executescript(
        "create table employees(emp_no integer, hire_date text);"
        "create table dept_emp(emp_no integer, dept_no text, from_date text);"
        "create table salaries(emp_no integer, salary integer, from_date text);"
    )
    for e in range(1, 41):
        hire = f"2000-01-{e % 28 + 1:02d}"
        con.execute("insert into employees values (?, ?)", (e, hire))
        con.execute("insert into dept_emp values (?, ?, ?)", (e, f"d{e % 3}", hire))
        for year in range(2000, 2004):
            con.execute("insert into salaries values (?, ?, ?)", (e, 1000 * year, hire.replace("2000", str(year))))
    con.commit()
    con.close()
    schema = relgraph.connect(f"sqlite:///{path}").schema
    assert all(not t.composite_foreign_keys for t in schema.tables.values())
    assert any(r.reason.startswith("one-to-one") for r in schema.rejected_keys)
