"""Foreign keys: declared, file-given (checked against the data) or inferred by name and by role
(values contained in another table's key, under guards against small numbers; rules in
:mod:`relgraph.schema.keys`)."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.connectors.base import SourceData
from relgraph.errors import SchemaError
from relgraph.schema.io import SchemaOverrides, closest
from relgraph.schema.key_checks import (
    Candidate,
    containment,
    dense_range,
    id_prefix,
    is_reference_type,
    name_tokens,
    shares_stem,
    table_stems,
    too_low,
    value_family,
)
from relgraph.schema.model import ForeignKey, RejectedKey
from relgraph.schema.primary_keys import Key
from relgraph.schema.stypes import distinct_count
from relgraph.schema.times import norm

MIN_COVERAGE = 0.8
MIN_SELF_COVERAGE = 0.95
#: References found by values alone (no name match) need more of their values found.
MIN_ROLE_COVERAGE = 0.9
#: An integer role reference's largest value must reach this share of the referenced key's values.
MIN_ROLE_REACH = 0.5
#: Primary-key names too generic to link by name alone (``airports.code`` is no FK to ``countries.code``).
GENERIC_KEY_NAMES = {"id", "key", "code", "name", "uuid", "guid", "pk"}
#: Prefixes of ``...id`` columns that point back into their own table (``manager_id``, ``ParentId``).
SELF_REFERENCE_HINT = re.compile(
    r"parent|manager|boss|supervisor|reportsto|mentor|referr|invitedby|replyto|repliedto|answer|question|"
    r"original|previous|prev|next|root|related|duplicate|successor|predecessor|child|spouse|partner|friend"
)
#: Whole (normalised) column names that name a relation to a row of the same table, without ``id``.
RELATION_NAMES = re.compile(
    r"(reportsto|managedby|manager|supervisor|supervisedby|parent|boss|mentor|replyto|inreplyto|referredby|"
    r"invitedby|predecessor|successor|spouse|partner)"
)
#: ``...Id`` prefixes naming a code of a kind (``VoteTypeId``, ``status_code``): a lookup value, not a row.
CODE_NAME = re.compile(r"(type|kind|class|status|category|level|code|mode|flag|state)$")


def split_reference(reference: str, tables: dict[str, pa.Table], where: str) -> tuple[str, str]:
    """``"races.raceId"`` -> ``("races", "raceId")``; the longest table-name prefix wins (names may hold dots)."""
    matches = [t for t in tables if reference.startswith(t + ".")]
    if not matches:
        head = reference.split(".", 1)[0]
        if "." not in reference:
            raise SchemaError(f'{where}: references must read "table.column", got {reference!r}')
        raise SchemaError(f"{where} references missing table {head!r}{closest(head, list(tables))}")
    table = max(matches, key=len)
    return table, reference[len(table) + 1 :]


def foreign_keys(
    data: SourceData,
    primary: dict[str, Key],
    candidates: dict[str, list[str]],
    overrides: SchemaOverrides,
    rejected: list[RejectedKey],
    infer: bool,
) -> dict[str, list[ForeignKey]]:
    tables = data.tables
    declared = data.declared.foreign_keys
    targets = [(parent, key.column, False) for parent, key in primary.items() if key.column is not None]
    targets += [(parent, column, True) for parent, columns in candidates.items() for column in columns]
    out: dict[str, list[ForeignKey]] = {}
    for name, table in tables.items():
        override = overrides.tables.get(name)
        if override is not None and override.foreign_keys is not None:
            fks = []
            for column, reference in override.foreign_keys:
                ref_table, ref_column = split_reference(
                    reference, tables, f"schema file {overrides.path}: {name}.{column}"
                )
                fks.append(
                    _declared_fk(tables, name, column, ref_table, ref_column, f"schema file {overrides.path}")
                )
        elif declared.get(name):
            fks = [
                _declared_fk(tables, name, c, rt, rc, "declared by the source")
                for c, rt, rc in declared[name]
            ]
        elif infer:
            excluded = (
                {c[0] for c in override.not_foreign_keys if len(c) == 1} if override is not None else set()
            )
            fks = _infer_foreign_keys(name, table, tables, primary[name].column, targets, excluded, rejected)
        else:
            fks = []
        out[name] = fks
    return out


def _declared_fk(
    tables: dict[str, pa.Table], table: str, column: str, ref_table: str, ref_column: str, source: str
) -> ForeignKey:
    """A declared or file-given foreign key, checked against the data."""
    where = f"{table}.{column}"
    if column not in tables[table].column_names:
        raise SchemaError(
            f"{where}: foreign-key column does not exist{closest(column, tables[table].column_names)}"
        )
    if ref_table not in tables:
        raise SchemaError(
            f"{where}: references missing table {ref_table!r}{closest(ref_table, list(tables))}"
        )
    if ref_column not in tables[ref_table].column_names:
        raise SchemaError(
            f"{where}: references missing column {ref_table}.{ref_column}{closest(ref_column, tables[ref_table].column_names)}"
        )
    parent = tables[ref_table].column(ref_column)
    if parent.null_count or distinct_count(parent) < len(parent):
        raise SchemaError(
            f"{where}: references {ref_table}.{ref_column}, which is not unique and non-null; reference a key column"
        )
    coverage, dangling = containment(tables[table].column(column), parent)
    return ForeignKey(column, ref_table, ref_column, False, coverage, source, dangling)


def _fk_name_match(
    column: str, child: str, parent: str, parent_key: str, table_names: list[str]
) -> tuple[int, str] | None:
    """How strongly a column's name says it references ``parent.parent_key`` (3 strong .. 1 weak), with why."""
    n, key = norm(column), norm(parent_key)
    if n == key and key not in GENERIC_KEY_NAMES:
        return 3, f"same name as {parent}.{parent_key}"
    if any(n.endswith(stem + "id") for stem in table_stems(parent)):
        return 2, f"name ends with the table name {parent!r} + id"
    if key not in GENERIC_KEY_NAMES and n.endswith(key) and n != key:
        return 2, f"name ends with {parent}.{parent_key}"
    if parent != child or n == key:
        return None
    prefix = id_prefix(column)
    if (
        prefix
        and SELF_REFERENCE_HINT.search(prefix)
        and not any(prefix.endswith(s) for t in table_names for s in table_stems(t))
    ):
        return 1, f"{column!r} names a relation, not a table: a self-reference"
    if RELATION_NAMES.fullmatch(n):
        return 1, f"{column!r} names a relation between rows: a self-reference"
    return None


def _is_reference_name(column: str, parent: str) -> bool:
    """Integers are references by value only under a name that says so."""
    words = name_tokens(column)
    return (
        (len(words) > 1 and words[-1] in ("id", "key"))
        or bool(RELATION_NAMES.fullmatch(norm(column)))
        or shares_stem(column, parent)
    )


def _reach(values: pa.ChunkedArray, parent: pa.ChunkedArray) -> float:
    """Share of the parent's key values at or below the child's largest value."""
    largest = pc.max(values).as_py()
    dense = dense_range(parent)
    if dense is not None:
        return min(max(largest - dense[0] + 1, 0), len(parent)) / len(parent)
    keys = np.sort(parent.drop_null().to_numpy())
    return float(np.searchsorted(keys, largest, side="right")) / max(len(keys), 1)


def _role_guard(
    column: str, values: Candidate, parent: str, key: str, parent_values: pa.ChunkedArray
) -> str:
    """Why a by-value reference is not believed ('' when it is)."""
    if value_family(values.column) == "str":
        return (
            "a single distinct value is no evidence of a reference" if len(values.distinct.values) < 2 else ""
        )
    bounds = pc.min_max(values.column)
    if bounds["min"].as_py() == bounds["max"].as_py():
        return "a single distinct value is no evidence of a reference"
    prefix = id_prefix(column) or norm(column)
    if CODE_NAME.search(prefix):
        return f"{column!r} names a code of a kind, not a row of {parent}"
    reach = _reach(values.column, parent_values)
    if reach < MIN_ROLE_REACH:
        return (
            f"values reach only the lowest {reach:.0%} of {parent}.{key}: small numbers (codes, counts, "
            "positions) that any id range holds"
        )
    return ""


def _infer_foreign_keys(
    name: str,
    table: pa.Table,
    tables: dict[str, pa.Table],
    own_key: str | None,
    targets: list[tuple[str, str, bool]],
    excluded: set[str],
    rejected: list[RejectedKey],
) -> list[ForeignKey]:
    fks: list[ForeignKey] = []
    table_names = list(tables)
    for column in table.column_names:
        values = table.column(column)
        if (
            column == own_key
            or column in excluded
            or not is_reference_type(values)
            or values.null_count == len(values)
        ):
            continue
        non_null = len(values) - values.null_count
        usable = [(p, k, c) for p, k, c in targets if not (c and p == name)]
        candidate = Candidate(values)
        best = _best_name_match(name, column, candidate, tables, usable, table_names, non_null, rejected)
        if best is None:
            best = _best_role_match(name, column, candidate, tables, usable, non_null, rejected)
        if best is not None:
            fks.append(best)
    return fks


def _best_name_match(
    name: str,
    column: str,
    values: Candidate,
    tables: dict[str, pa.Table],
    targets: list[tuple[str, str, bool]],
    table_names: list[str],
    non_null: int,
    rejected: list[RejectedKey],
) -> ForeignKey | None:
    best: tuple[int, float, ForeignKey] | None = None
    for parent, key, _ in targets:
        match = _fk_name_match(column, name, parent, key, table_names)
        if match is None:
            continue
        strength, why = match
        coverage, dangling = containment(values, tables[parent].column(key))
        minimum = MIN_COVERAGE if strength > 1 else MIN_SELF_COVERAGE
        if too_low(rejected, name, [column], f"{parent}.{key}", coverage, minimum, f"{why}, but ", report_from=0.0):
            continue
        evidence = f"{why}; {coverage:.1%} of {non_null} non-null values found in {parent}.{key}"
        candidate = ForeignKey(column, parent, key, True, coverage, evidence, dangling)
        if best is None or (strength, coverage) > best[:2]:
            best = (strength, coverage, candidate)
    return best[2] if best is not None else None


def _best_role_match(
    name: str,
    column: str,
    values: Candidate,
    tables: dict[str, pa.Table],
    targets: list[tuple[str, str, bool]],
    non_null: int,
    rejected: list[RejectedKey],
) -> ForeignKey | None:
    """The one table whose key holds the column's values (the guards: :mod:`relgraph.schema.keys`)."""
    family = value_family(values.column)
    passed: list[tuple[bool, float, ForeignKey]] = []  # (shares a stem, coverage, fk)
    turned_down: list[RejectedKey] = []  # only the best-covered one is reported
    nameless: list[tuple[float, str]] = []  # integers under a non-reference name that a key holds
    for parent, key, _ in targets:
        parent_values = tables[parent].column(key)
        if parent == name or value_family(parent_values) != family:
            continue
        if family == "int" and not _is_reference_name(column, parent):
            bounds, parent_bounds = pc.min_max(values.column), pc.min_max(parent_values)
            if (
                bounds["min"].as_py() < parent_bounds["min"].as_py()
                or bounds["max"].as_py() > parent_bounds["max"].as_py()
            ):
                continue
            coverage, _ = containment(values, parent_values)
            if coverage >= MIN_ROLE_COVERAGE:
                nameless.append((coverage, f"{parent}.{key}"))
            continue
        coverage, dangling = containment(values, parent_values)
        if too_low(turned_down, name, [column], f"{parent}.{key}", coverage, MIN_ROLE_COVERAGE):
            continue
        reason = _role_guard(column, values, parent, key, parent_values)
        if reason:
            turned_down.append(RejectedKey(name, [column], f"{parent}.{key}", coverage, reason))
            continue
        stem = shares_stem(column, parent)
        evidence = f"values found in {parent}.{key}: {coverage:.1%} of {non_null} non-null values" + (
            f", name shares its stem with {parent!r}" if stem else ", a role name"
        )
        passed.append((stem, coverage, ForeignKey(column, parent, key, True, coverage, evidence, dangling)))
    if turned_down:
        rejected.append(max(turned_down, key=lambda r: r.coverage or 0.0))
    if nameless and not turned_down:
        coverage, reference = max(nameless)
        rejected.append(
            RejectedKey(
                name,
                [column],
                reference,
                coverage,
                "integers whose name says no reference (a count, position, rating or year) fit inside that key",
            )
        )
    if not passed:
        return None
    passed.sort(key=lambda p: (p[0], p[1]), reverse=True)
    if len(passed) > 1 and passed[0][0] == passed[1][0] and passed[1][1] >= passed[0][1] - 0.01:
        options = " and ".join(f"{p[2].references_table}.{p[2].references_column}" for p in passed[:2])
        for _, coverage, fk in passed:
            rejected.append(
                RejectedKey(
                    name,
                    [column],
                    f"{fk.references_table}.{fk.references_column}",
                    coverage,
                    f"ambiguous: its values fit {options} alike; name the one meant in a schema file",
                )
            )
        return None
    for _, coverage, fk in passed[1:]:
        rejected.append(
            RejectedKey(
                name,
                [column],
                f"{fk.references_table}.{fk.references_column}",
                coverage,
                f"{passed[0][2].references_table} fits better",
            )
        )
    return passed[0][2]
