"""Issue #12 classes 5-8: times that are not row times (audit columns, parents "created" after
their own events, times of another entity, event tables without a time of their own)."""

from __future__ import annotations

import numpy as np
import pytest

from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import Database
from relgraph.errors import QueryError
from relgraph.query import parse
from relgraph.query.validator import validate
from relgraph.schema import SType, build_schema
from relgraph.schema.io import write_schema


def _db(make, tables: dict, declared: DeclaredKeys, schema_file=None) -> Database:
    data = make(tables, declared)
    return Database(data, build_schema(data, schema_file=schema_file))


def assert_cut_moves_nothing(db: Database, cutoff: str) -> None:
    """Deleting the future changes no remaining row's time, and re-inference on the past agrees."""
    past = db.cut(cutoff)
    again = Database(
        SourceData("past", past.tables, db.declared, "past"), build_schema(SourceData("past", past.tables, db.declared, "past"))
    )
    limit = np.datetime64(cutoff, "ns")
    for name in db.tables:
        full, kept = db.row_times(name), past.row_times(name)
        assert (full is None) == (kept is None), name
        if full is None:
            assert past.tables[name].num_rows == db.tables[name].num_rows
            continue
        expected = full[~np.isnat(full) & (full <= limit)]
        np.testing.assert_array_equal(kept, expected)
        if past.tables[name].num_rows == 0:
            continue  # nothing left to decide about
        # The past alone leads to the same decision (static stays static, unknown stays unknown).
        assert (again.schema[name].time is None) == (db.schema[name].time is None), name
        if db.schema[name].time is not None:
            assert again.schema[name].time.unknown == db.schema[name].time.unknown, name


# ----------------------------------------------------------------------------- Sakila (classes 5, 6)

SAKILA_DUMP = "2006-02-15 04:57:20"


def _sakila(make, schema_file=None) -> Database:
    """Sakila's shape: every table has last_update; customers were all "created" at the 2006 dump,
    after their 2005 rentals."""
    rentals = ["2005-05-24 22:53:30", "2005-05-25 11:30:37", "2005-06-15 18:02:53", "2005-07-08 03:17:05", "2005-08-23 22:50:12"]
    return _db(
        make,
        {
            "language": {"language_id": [1, 2], "name": ["English", "Italian"], "last_update": [SAKILA_DUMP] * 2},
            "film": {
                "film_id": [1, 2, 3],
                "title": ["ACADEMY DINOSAUR", "ACE GOLDFINGER", "ADAPTATION HOLES"],
                "release_year": [2006, 2006, 2006],
                "language_id": [1, 1, 2],
                "last_update": [SAKILA_DUMP] * 3,
            },
            "customer": {
                "customer_id": [1, 2, 3],
                "first_name": ["MARY", "PATRICIA", "LINDA"],
                "create_date": ["2006-02-14 22:04:36", "2006-02-14 22:04:36", "2005-05-01 10:00:00"],
                "last_update": [SAKILA_DUMP] * 3,
            },
            "rental": {
                "rental_id": [1, 2, 3, 4, 5],
                "rental_date": rentals,
                "film_id": [1, 2, 3, 1, 2],
                "customer_id": [1, 1, 2, 2, 3],
                "return_date": ["2005-05-26 22:04:30", "2005-05-28 19:40:33", "2005-06-20 18:02:53", "2005-07-10 03:17:05", None],
                "last_update": [SAKILA_DUMP] * 5,
            },
        },
        DeclaredKeys(
            primary_keys={"language": "language_id", "film": "film_id", "customer": "customer_id", "rental": "rental_id"},
            foreign_keys={
                "film": [("language_id", "language", "language_id")],
                "rental": [("film_id", "film", "film_id"), ("customer_id", "customer", "customer_id")],
            },
        ),
        schema_file,
    )


def test_audit_columns_never_make_a_table_timed(source_factory) -> None:
    db = _sakila(source_factory)
    for name in ("language", "film"):
        assert db.schema[name].time is None, name
        assert "'last_update' looks like an audit column" in db.schema[name].time_evidence
        assert db.schema[name].column("last_update").stype is SType.IGNORED
    assert db.schema["rental"].time_column == "rental_date"
    assert "audit columns 'last_update' not used" in db.schema["rental"].time.evidence


def test_audit_column_as_row_time_only_from_the_schema_file(tmp_path, source_factory) -> None:
    path = tmp_path / "sakila.toml"
    path.write_text('[tables.language]\ntime = "last_update"\n')
    db = _sakila(source_factory, path)
    assert db.schema["language"].time_column == "last_update" and not db.schema["language"].time.inferred


def test_parent_created_after_its_own_events_falls_back_to_static(source_factory) -> None:
    db = _sakila(source_factory)
    customer = db.schema["customer"]
    assert customer.time is None
    assert "'create_date' comes after the events that reference its rows" in customer.time_evidence
    assert "4 of 5 rental rows" in customer.time_evidence  # the evidence: rentals older than their customer
    assert customer.column("create_date").stype is SType.IGNORED
    assert any(w.startswith("customer: 'create_date' comes after") for w in db.schema.warnings)
    # Customers are not hidden before the dump date: every rental sees its customer.
    assert db.row_times("customer") is None
    assert_cut_moves_nothing(db, "2005-06-30")


def test_late_parent_time_restored_by_the_schema_file(tmp_path, source_factory) -> None:
    path = tmp_path / "sakila.toml"
    path.write_text('[tables.customer]\ntime = "create_date"\n')
    db = _sakila(source_factory, path)
    assert db.schema["customer"].time_column == "create_date"
    assert any("older than their customer row" in w for w in db.schema.warnings)


# ----------------------------------------------------------------------------- Chinook (class 7)


def _chinook(make, schema_file=None) -> Database:
    """employees <- customers (SupportRepId: a role) <- invoices <- invoice_items."""
    return _db(
        make,
        {
            "employees": {
                "EmployeeId": [1, 2, 3],
                "LastName": ["Adams", "Edwards", "Peacock"],
                "HireDate": ["2002-08-14", "2002-05-01", "2003-04-01"],
            },
            "customers": {"CustomerId": [1, 2, 3, 4], "FirstName": ["Luís", "Leonie", "François", "Bjørn"], "SupportRepId": [3, 3, 2, 3]},
            "invoices": {
                "InvoiceId": [1, 2, 3, 4, 5],
                "CustomerId": [1, 2, 1, 3, 4],
                "InvoiceDate": ["2009-01-01", "2009-01-02", "2009-02-03", "2009-03-04", "2010-05-06"],
                "Total": [1.98, 3.96, 5.94, 8.91, 0.99],
            },
            "invoice_items": {"InvoiceLineId": [1, 2, 3, 4, 5, 6], "InvoiceId": [1, 1, 2, 3, 4, 5], "UnitPrice": [0.99] * 6},
        },
        DeclaredKeys(
            primary_keys={"employees": "EmployeeId", "customers": "CustomerId", "invoices": "InvoiceId", "invoice_items": "InvoiceLineId"},
            foreign_keys={
                "customers": [("SupportRepId", "employees", "EmployeeId")],
                "invoices": [("CustomerId", "customers", "CustomerId")],
                "invoice_items": [("InvoiceId", "invoices", "InvoiceId")],
            },
        ),
        schema_file,
    )


def test_a_customer_is_no_event_of_its_support_rep(source_factory) -> None:
    db = _chinook(source_factory)
    customers = db.schema["customers"]
    assert customers.time is None and db.row_times("customers") is None
    assert "'SupportRepId' names a role, not employees" in customers.time_evidence
    assert any(w.startswith("customers: 'SupportRepId' names a role") for w in db.schema.warnings)
    # Lines of an invoice are events of it: they take its date.
    items = db.schema["invoice_items"].time
    assert items is not None and (items.inherited_via, items.parent_table) == ("InvoiceId", "invoices")
    assert [str(t)[:10] for t in db.row_times("invoice_items")] == [
        "2009-01-01", "2009-01-01", "2009-01-02", "2009-02-03", "2009-03-04", "2010-05-06",
    ]
    assert_cut_moves_nothing(db, "2009-02-28")


def test_support_rep_inheritance_only_from_the_schema_file(tmp_path, source_factory) -> None:
    path = tmp_path / "chinook.yaml"
    path.write_text("tables:\n  customers:\n    time: {inherit_via: SupportRepId}\n")
    db = _chinook(source_factory, path)
    assert db.schema["customers"].time.parent_table == "employees"


# ----------------------------------------------------------------------------- Lahman (class 8)


def _lahman(make, schema_file=None) -> Database:
    """people (debut) <- salaries (yearID) and appearances (no time of its own)."""
    return _db(
        make,
        {
            "people": {
                "playerID": ["aaronha01", "mayswi01"],
                "nameLast": ["Aaron", "Mays"],
                "birthYear": [1934, 1931],
                "debut": ["1954-04-13", "1951-05-25"],
            },
            "salaries": {
                "salaryID": [1, 2, 3, 4],
                "playerID": ["aaronha01", "aaronha01", "mayswi01", "mayswi01"],
                "yearID": [1985, 1986, 1985, 1986],
                "salary": [125000, 150000, 110000, 130000],
            },
            "appearances": {
                "appearanceID": [1, 2, 3, 4, 5],
                "playerID": ["aaronha01", "aaronha01", "aaronha01", "mayswi01", "mayswi01"],
                "teamID": ["ML1", "ML1", "ATL", "NY1", "SFN"],
                "G_all": [122, 153, 139, 151, 152],
            },
        },
        DeclaredKeys(
            primary_keys={"people": "playerID", "salaries": "salaryID", "appearances": "appearanceID"},
            foreign_keys={
                "salaries": [("playerID", "people", "playerID")],
                "appearances": [("playerID", "people", "playerID")],
            },
        ),
        schema_file,
    )


def test_an_event_table_never_takes_its_players_debut(source_factory) -> None:
    db = _lahman(source_factory)
    # Salaries have a time of their own (the season), not the player's debut.
    salaries = db.schema["salaries"].time
    assert salaries is not None and salaries.column == "yearID" and salaries.inherited_via is None
    # Appearances have none: stamping them at the debut would show every later season from 1954 on.
    appearances = db.schema["appearances"].time
    assert appearances is not None and appearances.unknown
    assert "people.debut is when a people row came to exist" in appearances.evidence
    assert any(w.startswith("appearances: LEFT OUT of features and sampling") for w in db.schema.warnings)
    assert np.isnat(db.row_times("appearances")).all()
    assert db.duckdb().sql('SELECT count(*) FROM appearances WHERE "__rg_time" IS NOT NULL').fetchall() == [(0,)]
    assert_cut_moves_nothing(db, "1985-12-31")
    assert db.cut("1985-12-31").tables["appearances"].num_rows == 0


def test_queries_refuse_windows_over_a_table_left_out(source_factory) -> None:
    db = _lahman(source_factory)
    query = parse("PREDICT COUNT(appearances.*, 0, 365, days) > 0 FOR EACH people.playerID")
    with pytest.raises(QueryError, match="appearances has no trusted row time"):
        validate(query, db.schema)


def test_left_out_event_table_given_a_time_by_the_schema_file(tmp_path, source_factory) -> None:
    path = tmp_path / "lahman.toml"
    path.write_text('[tables.appearances]\ntime = { inherit_via = "playerID" }\n')
    db = _lahman(source_factory, path)
    assert db.schema["appearances"].time.parent_table == "people"
    path.write_text("[tables.appearances]\ntime = false\n")
    assert _lahman(source_factory, path).schema["appearances"].time is None
    # The written schema keeps the table left out.
    written = tmp_path / "written.toml"
    write_schema(_lahman(source_factory).schema, written)
    assert "unknown = true" in written.read_text()
    assert _lahman(source_factory, written).schema["appearances"].time.unknown


def test_event_table_without_any_timed_parent_is_warned(source_factory) -> None:
    """Lahman fielding stats of a static people table, next to timed games: static, but warned."""
    db = _db(
        source_factory,
        {
            "people": {"playerID": ["aaronha01", "mayswi01"], "nameLast": ["Aaron", "Mays"]},
            "fielding": {"fieldingID": [1, 2, 3, 4], "playerID": ["aaronha01", "aaronha01", "mayswi01", "mayswi01"], "E": [3, 5, 2, 7]},
            "teams": {"teamID": ["ML1", "NY1"], "name": ["Milwaukee Braves", "New York Giants"]},
            "people_teams": {
                "teamID": ["ML1", "ML1", "NY1", "NY1"],
                "playerID": ["aaronha01", "aaronha01", "mayswi01", "mayswi01"],
                "last_update": ["2006-02-15 04:57:20"] * 4,
            },
            "games": {"gameID": [1, 2], "game_date": ["1954-04-13", "1954-04-14"]},
        },
        DeclaredKeys(
            primary_keys={"people": "playerID", "fielding": "fieldingID", "games": "gameID", "teams": "teamID"},
            foreign_keys={
                "fielding": [("playerID", "people", "playerID")],
                "people_teams": [("teamID", "teams", "teamID"), ("playerID", "people", "playerID")],
            },
        ),
    )
    assert db.schema["fielding"].time is None
    assert any(w.startswith("fielding: an event table (2.0 rows per people row") for w in db.schema.warnings)
    assert not any(w.startswith("people_teams:") for w in db.schema.warnings)  # a pure link table
