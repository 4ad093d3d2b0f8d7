"""``build_schema``: declared keys first, inferred keys and times next, schema-file overrides last.

Inference rules (each inferred item records its evidence as one readable sentence):

Primary keys (tables without a declared or file-given key): a column that is unique, non-null,
integer or string, and named as an id: ``id``, ``<table>Id``/``<table>_id`` (plural or singular
table name) scores highest, ``<prefix>Id`` where the prefix resembles the table name
(``qualifyId`` for ``qualifying``) next, any other ``...id``/``...key`` column last. A column
named as another table's id (``driverId`` in a 1:1 extension table) is not taken as the key.

Foreign keys (only when the source declares none; catalog constraints are authoritative, and a
source that declares foreign keys also declares all its primary keys): a column whose name
equals another table's primary-key name (``raceId`` -> ``races.raceId``), or ends with
``<table>Id``/``<table>_id``/that key's name (``OwnerUserId`` -> ``Users``), or, for
self-references, ends with ``id`` and names no table but a relation such as parent, manager,
previous, related or answer (``manager_id``, ``ParentId``, ``AcceptedAnswerId``; see
``SELF_REFERENCE_HINT``). It is accepted when at least ``MIN_COVERAGE`` of its non-null values
are found in the candidate key (``MIN_SELF_COVERAGE`` for self-references); coverage and dangling
count are reported. A table's own primary key is never a foreign key. Integer, string and
whole-number float columns (ids with nulls after pandas) can be references.

Time columns (tables without a declared or file-given time; a source that declares time columns,
like RelBench, declares all of them): date/timestamp columns, ISO date strings and integer Unix
epoch times (seconds, milliseconds or microseconds, 1990 to 2100) in columns named as times
(``created_at``, ``event_time``; see ``times.epoch_column_unit``), preferring creation names
(``created``, ``CreationDate``) over plain ``date``/``time`` over other ``...date``/``...time``/
``..._at`` names over unnamed ones. Birth dates (``dob``, ``birth...``) are never row times (a
feature of a static row). Audit columns (``last_update``, ``updated_at``, ``modified``,
``LastEditDate``) are used only when nothing better exists, with a warning. A date-only column with
a clock-time companion (``date`` + ``time``, ``fp1_date`` + ``fp1_time``) is combined with it.

Inherited time: a table without its own time that references exactly one timed table (own or
inherited time, self-references excluded) takes that parent's row time through the foreign key.
With several timed parents (an order item belongs to an order and to a product) it takes the
parent that is the latest for at least 95 % of its rows (the order), so a row never appears
before any of its parents; when no parent dominates it stays static with a warning saying how
to choose in the schema file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.connectors.base import SourceData
from relgraph.errors import SchemaError
from relgraph.schema.entities import add_implicit_tables
from relgraph.schema.io import SchemaOverrides, TableOverride, closest, load_schema_file
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo
from relgraph.schema.stypes import ISO_DATE_PATTERN, distinct_count, infer_stype
from relgraph.schema.times import (
    AUDIT_PATTERN,
    TIME_VALUE_HINT,
    bad_times_message,
    comparable_keys,
    epoch_column_unit,
    epoch_evidence,
    epoch_unit,
    is_clock_type,
    is_date_only,
    is_datetime_type,
    is_stringlike,
    is_whole_number,
    lookup_parent_values,
    norm,
    own_row_times,
    parse_clock_times,
    parse_datetimes,
    resolve_row_times,
    time_name_score,
)

MIN_COVERAGE = 0.8
MIN_SELF_COVERAGE = 0.95
#: Primary-key names too generic to link by name alone (``airports.code`` is no FK to ``countries.code``).
GENERIC_KEY_NAMES = {"id", "key", "code", "name", "uuid", "guid", "pk"}
#: Prefixes of ``...id`` columns that point back into their own table (``manager_id``, ``ParentId``).
SELF_REFERENCE_HINT = re.compile(
    r"parent|manager|boss|supervisor|reportsto|mentor|referr|invitedby|replyto|repliedto|answer|question|"
    r"original|previous|prev|next|root|related|duplicate|successor|predecessor|child|spouse|partner|friend"
)
BIRTH_PATTERN = re.compile(r"^dob$|birth", re.IGNORECASE)


def table_stems(table: str) -> set[str]:
    """Normalised plural and singular forms of a table name (``races`` -> {races, race})."""
    n = norm(table)
    stems = {n}
    if n.endswith("ies") and len(n) > 4:
        stems.add(n[:-3] + "y")
    elif n.endswith(("ses", "xes", "ches", "shes")):
        stems.add(n[:-2])
    if n.endswith("s") and not n.endswith("ss") and len(n) > 2:
        stems.add(n[:-1])
    return stems


def _id_prefix(name: str) -> str | None:
    """``raceId`` -> ``race``; None when the name does not end with ``id``."""
    n = norm(name)
    return n[:-2] if n.endswith("id") and len(n) > 2 else None


def _is_key_type(dtype: pa.DataType) -> bool:
    """Types a key can have: integers and strings (floats only as references, see ``_is_reference_type``)."""
    return pa.types.is_integer(dtype) or is_stringlike(dtype)


def _is_reference_type(values: pa.ChunkedArray) -> bool:
    """Foreign-key values: key types, or whole-number floats (integer ids with nulls after pandas)."""
    if pa.types.is_floating(values.type):
        return is_whole_number(values)
    return _is_key_type(values.type)


def _is_unique(values: pa.ChunkedArray) -> bool:
    """No value twice. Integers spanning at most 4x their count use a counting pass (no hashing)."""
    if pa.types.is_integer(values.type) and len(values):
        bounds = pc.min_max(values)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is not None and high - low < 4 * len(values):
            offsets = pc.subtract(values, low).to_numpy().astype(np.int64)
            return int(np.bincount(offsets).max()) <= 1
    return distinct_count(values) == len(values)


def _describe(values: pa.Array) -> str:
    return repr(values[0].as_py()) if len(values) else "?"


@dataclass
class _Key:
    column: str | None
    inferred: bool
    evidence: str


def build_schema(data: SourceData, schema_file: str | Path | None = None) -> Schema:
    """What relgraph understands of ``data``: keys, times and semantic types.

    Args:
        data: tables and declared keys from a connector.
        schema_file: optional TOML/YAML overrides (format: :mod:`relgraph.schema.io`).
    Returns:
        A :class:`Schema` with one :class:`TableSchema` per table, in source order.
    Raises:
        SchemaError: declared or file-given keys/times that contradict the data, or a schema
            file naming a missing table/column; one line naming ``table.column``.
    """
    overrides = load_schema_file(schema_file) if schema_file is not None else SchemaOverrides(path="")
    tables = data.tables
    _check_override_names(overrides, tables)
    warnings: list[str] = []
    _report_composite_keys(data, warnings)
    for name, parts in data.parts.items():
        warnings.append(
            f"{name}: one table from {len(parts.files)} files with the same columns ({', '.join(parts.files)}); "
            f"column {parts.column!r} says which; set tables.{name}.parts = false in a schema file to read them apart"
        )

    keys = _primary_keys(data, overrides)
    for name, key in keys.items():
        if key.column is not None and not key.inferred:
            _validate_primary_key(name, key.column, tables[name])
    foreign = _foreign_keys(data, keys, overrides)
    static_reasons: dict[str, str] = {}
    times = _times(data, keys, foreign, overrides, warnings, static_reasons)

    schema_tables: dict[str, TableSchema] = {}
    for name, table in tables.items():
        override = overrides.tables.get(name, TableOverride())
        key = keys[name]
        fks = foreign[name]
        time = times[name]
        schema_tables[name] = TableSchema(
            name=name,
            rows=table.num_rows,
            columns=_columns(
                table, key.column, fks, time, override, data.declared.snapshot_columns.get(name, {})
            ),
            primary_key=key.column,
            primary_key_inferred=key.inferred,
            primary_key_evidence=key.evidence,
            foreign_keys=fks,
            time=time,
            time_evidence=static_reasons.get(name, "") if time is None else "",
        )
    schema = Schema(tables=schema_tables, warnings=warnings)
    # Id columns without a table of their own become tables (schema/entities.py).
    made = add_implicit_tables(
        schema, tables, overrides, {t: table_stems(t) for t in tables}, not any(data.declared.foreign_keys.values())
    )
    tables = {**tables, **made}
    row_times = _row_times_or_none(tables, schema)
    _hide_future_columns(schema, tables, row_times, warnings)
    _hide_era_columns(schema, tables, row_times, warnings)
    _report(schema, tables, row_times, warnings)
    return schema


# ----------------------------------------------------------------------------- file names


def _check_override_names(overrides: SchemaOverrides, tables: dict[str, pa.Table]) -> None:
    """Every table and column a schema file names must exist."""
    where = f"schema file {overrides.path}"
    for name, override in overrides.tables.items():
        if override.implicit is not None or override.parts is False:
            continue  # a table relgraph makes (schema/entities.py), or files read apart by relgraph.connect
        if name not in tables:
            raise SchemaError(f"{where}: table {name!r} does not exist{closest(name, list(tables))}")
        columns = tables[name].column_names
        named = list(override.stypes)
        if isinstance(override.primary_key, str):
            named.append(override.primary_key)
        if override.time is not None:
            named += [
                c for c in (override.time.column, override.time.time_of_day, override.time.inherit_via) if c
            ]
        for column, reference in override.foreign_keys or []:
            named.append(column)
            ref_table, ref_column = _split_reference(reference, tables, f"{where}: {name}.{column}")
            if ref_column not in tables[ref_table].column_names:
                raise SchemaError(
                    f"{where}: {name}.{column} references missing column {ref_table}.{ref_column}"
                    f"{closest(ref_column, tables[ref_table].column_names)}"
                )
        for column in named:
            if column not in columns:
                raise SchemaError(f"{where}: column {name}.{column} does not exist{closest(column, columns)}")


def _split_reference(reference: str, tables: dict[str, pa.Table], where: str) -> tuple[str, str]:
    """``"races.raceId"`` -> ``("races", "raceId")``; the longest table-name prefix wins (names may hold dots)."""
    matches = [t for t in tables if reference.startswith(t + ".")]
    if not matches:
        head = reference.split(".", 1)[0]
        if "." not in reference:
            raise SchemaError(f'{where}: references must read "table.column", got {reference!r}')
        raise SchemaError(f"{where} references missing table {head!r}{closest(head, list(tables))}")
    table = max(matches, key=len)
    return table, reference[len(table) + 1 :]


def _report_composite_keys(data: SourceData, warnings: list[str]) -> None:
    composite = data.declared.composite
    for table, columns in composite.primary_keys.items():
        warnings.append(
            f"{table}: composite primary key ({', '.join(columns)}) is not supported; the table is read "
            "without a primary key (add a surrogate key column to link it)"
        )
    for table, fks in composite.foreign_keys.items():
        for columns, ref_table, _ in fks:
            warnings.append(
                f"{table}: composite foreign key ({', '.join(columns)}) -> {ref_table} is not linked"
            )


# ----------------------------------------------------------------------------- primary keys


def _primary_keys(data: SourceData, overrides: SchemaOverrides) -> dict[str, _Key]:
    declared = data.declared
    # A source declaring foreign keys states its keys fully: tables without a declared key have none.
    fully_declared = any(declared.foreign_keys.values())
    other_id_names = {
        name: {s + "id" for t in data.tables if t != name for s in table_stems(t)} for name in data.tables
    }
    out: dict[str, _Key] = {}
    for name, table in data.tables.items():
        override = overrides.tables.get(name)
        if override is not None and override.primary_key is not None:
            column = override.primary_key or None
            out[name] = _Key(column, False, f"schema file {overrides.path}")
        elif name in declared.primary_keys:
            column = declared.primary_keys[name]
            if column not in table.column_names:
                raise SchemaError(
                    f"{name}: declared primary key {column!r} is not a column{closest(column, table.column_names)}"
                )
            out[name] = _Key(column, False, "declared by the source")
        elif fully_declared:
            out[name] = _Key(None, False, "none declared by the source")
        else:
            out[name] = _infer_primary_key(name, table, other_id_names[name])
    return out


def _validate_primary_key(table_name: str, column: str, table: pa.Table) -> None:
    """Declared or file-given keys are trusted but must be unique and non-null."""
    values = table.column(column)
    fix = "fix the data or name another key in a schema file"
    if values.null_count:
        raise SchemaError(f"{table_name}.{column}: primary key has {values.null_count} NULL values; {fix}")
    if not _is_unique(values):
        distinct = distinct_count(values)
        counts = pc.value_counts(values)
        dupes = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
        raise SchemaError(
            f"{table_name}.{column}: primary key has {table.num_rows - distinct} duplicate values "
            f"(e.g. {_describe(dupes)}); {fix}"
        )


def _infer_primary_key(name: str, table: pa.Table, other_id_names: set[str]) -> _Key:
    stems = table_stems(name)
    best: tuple[int, int, str, str] | None = None  # (score, -position, column, evidence)
    for position, column in enumerate(table.column_names):
        values = table.column(column)
        n = norm(column)
        prefix = _id_prefix(column)
        if not _is_key_type(values.type) or values.null_count or table.num_rows == 0:
            continue
        if n == "id" or n in {s + "id" for s in stems}:
            score, why = 3, "named as the table's id"
        elif prefix and any(
            s.startswith(prefix) or difflib.SequenceMatcher(None, prefix, s).ratio() >= 0.75 for s in stems
        ):
            score, why = 2, f"name resembles the table name {name!r}"
        elif prefix or n.endswith("key"):
            score, why = 1, "an id-like name"
        else:
            continue
        if n in other_id_names and score < 3:
            continue  # named as another table's id: a reference, not this table's key
        if best is not None and (score, -position) <= best[:2]:
            continue
        if not _is_unique(values):
            continue
        best = (score, -position, column, f"unique, non-null, {why}")
    if best is None:
        return _Key(None, True, "no unique, non-null, id-named column")
    return _Key(best[2], True, best[3])


# ----------------------------------------------------------------------------- foreign keys


def _foreign_keys(
    data: SourceData, keys: dict[str, _Key], overrides: SchemaOverrides
) -> dict[str, list[ForeignKey]]:
    tables = data.tables
    declared = data.declared.foreign_keys
    infer = not any(declared.values())
    out: dict[str, list[ForeignKey]] = {}
    for name, table in tables.items():
        override = overrides.tables.get(name)
        if override is not None and override.foreign_keys is not None:
            fks = []
            for column, reference in override.foreign_keys:
                ref_table, ref_column = _split_reference(
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
            fks = _infer_foreign_keys(name, table, tables, keys)
        else:
            fks = []
        out[name] = fks
    return out


def _containment(child: pa.ChunkedArray, parent: pa.ChunkedArray) -> tuple[float, int]:
    """(share of the child's non-null values found in ``parent``, count of those not found)."""
    values = child.drop_null()
    if len(values) == 0:
        return 1.0, 0
    if not (_is_reference_type(values) and _is_key_type(parent.type)):
        return 0.0, len(values)
    values, parent_values = comparable_keys(values, parent.drop_null())
    found = pc.sum(pc.is_in(values, value_set=parent_values)).as_py() or 0
    return found / len(values), len(values) - found


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
    coverage, dangling = _containment(tables[table].column(column), parent)
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
    prefix = _id_prefix(column)
    if (
        parent == child
        and prefix
        and SELF_REFERENCE_HINT.search(prefix)
        and not any(prefix.endswith(s) for t in table_names for s in table_stems(t))
    ):
        return 1, f"{column!r} names a relation, not a table: a self-reference"
    return None


def _infer_foreign_keys(
    name: str, table: pa.Table, tables: dict[str, pa.Table], keys: dict[str, _Key]
) -> list[ForeignKey]:
    fks: list[ForeignKey] = []
    table_names = list(tables)
    for column in table.column_names:
        values = table.column(column)
        if column == keys[name].column or not _is_reference_type(values) or values.null_count == len(values):
            continue
        best: tuple[int, float, ForeignKey] | None = None
        for parent, key in keys.items():
            if key.column is None:
                continue
            match = _fk_name_match(column, name, parent, key.column, table_names)
            if match is None:
                continue
            strength, why = match
            coverage, dangling = _containment(values, tables[parent].column(key.column))
            if coverage < (MIN_COVERAGE if strength > 1 else MIN_SELF_COVERAGE):
                continue
            evidence = f"{why}; {coverage:.1%} of {len(values) - values.null_count} non-null values found in {parent}.{key.column}"
            candidate = ForeignKey(column, parent, key.column, True, coverage, evidence, dangling)
            if best is None or (strength, coverage) > best[:2]:
                best = (strength, coverage, candidate)
        if best is not None:
            fks.append(best[2])
    return fks


# ----------------------------------------------------------------------------- times


def _clock_companion(table: pa.Table, column: str) -> str | None:
    """The clock-time column paired with a date column (``date``->``time``, ``fp1_date``->``fp1_time``)."""
    wanted = norm(column).replace("date", "time")
    if wanted == norm(column):
        return None
    for other in table.column_names:
        if norm(other) != wanted:
            continue
        values = table.column(other)
        if values.null_count == len(values):
            return None
        if (is_clock_type(values.type) or is_stringlike(values.type)) and not len(
            parse_clock_times(values)[1]
        ):
            return other
    return None


def _infer_own_time(
    name: str, table: pa.Table, key_columns: set[str], warnings: list[str]
) -> tuple[TimeInfo | None, str]:
    """The table's own time column, or None and why not."""
    candidates: list[tuple[int, int, int, str]] = []  # (score, -nulls, -position, column)
    skipped: list[str] = []
    epoch_units: dict[str, str] = {}
    for position, column in enumerate(table.column_names):
        values = table.column(column)
        if column in key_columns or values.null_count == len(values):
            continue
        if is_datetime_type(values.type):
            pass
        elif (unit := epoch_column_unit(column, values)) is not None:
            epoch_units[column] = unit
        elif is_stringlike(values.type):
            sample = values.drop_null().slice(0, 1000)
            if not pc.all(pc.match_substring_regex(sample, ISO_DATE_PATTERN)).as_py():
                continue
            if len(parse_datetimes(values)[1]):
                continue
        else:
            continue
        if BIRTH_PATTERN.search(column):
            skipped.append(f"{column!r} is a birth date, a feature, not the time a row came to exist")
            continue
        candidates.append((time_name_score(column), -values.null_count, -position, column))
    if not candidates:
        return None, "; ".join(["no date/time column of its own", *skipped])
    score, _, _, column = max(candidates)
    audits = [c[3] for c in candidates if c[0] == 0 and c[3] != column]
    reason = {
        4: "a creation time",
        3: "named as the row's date/time",
        2: "a date/time name",
        1: "the only date/time values",
    }
    if score == 0:
        evidence = f"{column!r} looks like an audit column (time of last change), used only because nothing better exists"
        warnings.append(
            f"{name}.{column}: only an audit-like time column; used as row time (time = false in a schema file makes {name} static)"
        )
    else:
        evidence = f"{column!r}: {reason[score]}"
    if column in epoch_units:
        evidence += f", {epoch_evidence(epoch_units[column])}"
    if audits:
        evidence += f"; audit columns {', '.join(map(repr, audits))} not used"
    if skipped:
        evidence += "; " + "; ".join(skipped)
    companion = _clock_companion(table, column) if is_date_only(table.column(column)) else None
    if companion is not None:
        evidence += f", combined with its clock time {companion!r}"
    return TimeInfo(column=column, time_of_day_column=companion, inferred=True, evidence=evidence), ""


def _check_time_values(name: str, table: pa.Table, column: str, time_of_day: str | None) -> None:
    """A given time column (and clock column) must parse entirely; else one line with a bad example."""
    try:
        _, bad = parse_datetimes(table.column(column))
    except TypeError as err:
        raise SchemaError(
            f"{name}.{column}: {err}; {TIME_VALUE_HINT}, or name another time column in a schema file"
        ) from err
    if len(bad):
        raise SchemaError(bad_times_message(f"{name}.{column}", table.column(column), bad))
    if time_of_day is None:
        return
    try:
        _, bad = parse_clock_times(table.column(time_of_day))
    except TypeError as err:
        raise SchemaError(
            f"{name}.{time_of_day}: {err}; a clock-time column needs times like 06:00:00"
        ) from err
    if len(bad):
        raise SchemaError(
            f"{name}.{time_of_day}: {len(bad)} clock times do not parse, e.g. {_describe(bad)}; use times like 06:00:00"
        )


def _times(
    data: SourceData,
    keys: dict[str, _Key],
    foreign: dict[str, list[ForeignKey]],
    overrides: SchemaOverrides,
    warnings: list[str],
    static_reasons: dict[str, str],
) -> dict[str, TimeInfo | None]:
    """Each table's time (own, inherited or None); ``static_reasons`` receives why a table has none."""
    tables = data.tables
    declared = data.declared.time_columns
    times: dict[str, TimeInfo | None] = {}
    file_inherit: dict[str, str] = {}
    undecided: list[str] = []
    for name, table in tables.items():
        override = overrides.tables.get(name)
        if override is not None and override.time is not None:
            spec = override.time
            if spec.inherit_via is not None:
                file_inherit[name] = spec.inherit_via
                continue
            if spec.column is None:
                times[name] = None
                static_reasons[name] = f"time = false in schema file {overrides.path}"
            else:
                _check_time_values(name, table, spec.column, spec.time_of_day)
                times[name] = TimeInfo(
                    spec.column, time_of_day_column=spec.time_of_day, evidence=f"schema file {overrides.path}"
                )
        elif name in declared:
            column = declared[name]
            if column not in table.column_names:
                raise SchemaError(
                    f"{name}: declared time column {column!r} does not exist{closest(column, table.column_names)}"
                )
            _check_time_values(name, table, column, None)
            times[name] = TimeInfo(column, evidence="declared by the source")
        elif declared:
            times[name] = None  # a source that declares times (RelBench) declares all of them
            static_reasons[name] = "the source declares no time column for it"
        else:
            key_columns = {keys[name].column} | {fk.column for fk in foreign[name]}
            own, static_reasons[name] = _infer_own_time(name, table, key_columns, warnings)
            if own is None:
                undecided.append(name)
            else:
                times[name] = own

    for name, via in file_inherit.items():
        fk = next((f for f in foreign[name] if f.column == via), None)
        if fk is None:
            raise SchemaError(
                f"schema file {overrides.path}: {name}.time inherit_via {via!r} is not a foreign key of {name}"
                f"{closest(via, [f.column for f in foreign[name]])}"
            )
    # Inherit in dependency order: a table decides once each parent it references has decided.
    resolved_inherit: dict[str, TimeInfo] = {}

    def parent_time(parent: str) -> TimeInfo | None:
        return times.get(parent) or resolved_inherit.get(parent)

    pending = set(undecided) | set(file_inherit)
    while pending:
        progressed = False
        for name in sorted(pending, key=list(tables).index):
            parents = {fk.references_table for fk in foreign[name] if fk.references_table != name}
            if parents & pending and name not in file_inherit:
                continue
            if name in file_inherit:
                fk = next(f for f in foreign[name] if f.column == file_inherit[name])
                if fk.references_table in pending:
                    continue
                parent = parent_time(fk.references_table)
                if parent is None:
                    raise SchemaError(
                        f"schema file {overrides.path}: {name}.time inherit_via {fk.column!r}, but "
                        f"{fk.references_table} has no time to inherit"
                    )
                resolved_inherit[name] = _inherited(
                    fk, parent, f"schema file {overrides.path}", inferred=False
                )
            else:
                decided, why = _infer_inherited(name, tables, foreign, parent_time, warnings)
                if decided is None:
                    times[name] = None
                    static_reasons[name] += f"; {why}"
                else:
                    resolved_inherit[name] = decided
            pending.discard(name)
            progressed = True
        if not progressed:  # a cycle of tables that only reference each other: break it as static
            name = min(pending, key=list(tables).index)
            if name in file_inherit:
                raise SchemaError(
                    f"schema file {overrides.path}: {name}.time inherit_via forms a cycle of inherited times"
                )
            times[name] = None
            static_reasons[name] += "; its parents form a cycle without a time"
            pending.discard(name)
    times.update(resolved_inherit)
    return {name: times.get(name) for name in tables}


def _inherited(fk: ForeignKey, parent: TimeInfo, evidence: str, inferred: bool) -> TimeInfo:
    """Time taken from the parent through ``fk``; the parent's clock column is its own business (not repeated)."""
    return TimeInfo(
        column=parent.column,
        inherited_via=fk.column,
        parent_table=fk.references_table,
        inferred=inferred,
        evidence=evidence,
    )


#: A table with several timed parents inherits from one only if it is the latest for this share of rows.
LATEST_PARENT_SHARE = 0.95


def _parent_row_times(
    table: str,
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    parent_time: Callable[[str], TimeInfo | None],
) -> np.ndarray:
    """Row times of a timed table during inference (own, or inherited through its chain)."""
    info = parent_time(table)
    assert info is not None
    if info.inherited_via is None:
        return own_row_times(tables[table], info.column, info.time_of_day_column)[0]
    fk = next(f for f in foreign[table] if f.column == info.inherited_via)
    return lookup_parent_values(
        tables[table].column(fk.column),
        tables[fk.references_table].column(fk.references_column),
        _parent_row_times(fk.references_table, tables, foreign, parent_time),
    )


def _latest_parent(
    name: str,
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    timed: list[tuple[ForeignKey, TimeInfo]],
    parent_time: Callable[[str], TimeInfo | None],
) -> tuple[tuple[ForeignKey, TimeInfo], float]:
    """The parent whose time is the latest (ties count for all) in most rows, and that share of rows."""
    per_parent = np.stack(
        [
            lookup_parent_values(
                tables[name].column(fk.column),
                tables[fk.references_table].column(fk.references_column),
                _parent_row_times(fk.references_table, tables, foreign, parent_time),
            ).astype("int64")
            for fk, _ in timed
        ]
    )
    known = per_parent != np.iinfo(np.int64).min  # NaT
    if not known.any():
        return timed[0], 0.0
    is_latest = (per_parent == per_parent.max(axis=0)) & known
    rows = known.any(axis=0)
    shares = is_latest[:, rows].mean(axis=1)
    best = int(shares.argmax())
    return timed[best], float(shares[best])


def _infer_inherited(
    name: str,
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    parent_time: Callable[[str], TimeInfo | None],
    warnings: list[str],
) -> tuple[TimeInfo | None, str]:
    """The time inherited from the one timed parent (or the latest of several), or None and why not."""
    with_time = [
        (fk, parent_time(fk.references_table)) for fk in foreign[name] if fk.references_table != name
    ]
    timed = [(fk, t) for fk, t in with_time if t is not None]
    if not timed:
        return None, "references no timed table: static"
    share = None
    if len(timed) > 1:
        options = ", ".join(f"{fk.references_table} via {fk.column}" for fk, _ in timed)
        best, share = _latest_parent(name, tables, foreign, timed, parent_time)
        if share < LATEST_PARENT_SHARE:
            hint = f'set time = {{ inherit_via = "{timed[0][0].column}" }} in a schema file to pick one'
            warnings.append(
                f"{name}: no time column of its own and several timed parents ({options}), none the latest "
                f"for {LATEST_PARENT_SHARE:.0%} of rows; left static, so its rows count as always known "
                f"(a leak risk if they are events): {hint}"
            )
            return None, f"several timed parents ({options}): none picked; {hint}"
        timed = [best]
    fk, parent = timed[0]
    source = (
        parent.column
        if parent.time_of_day_column is None
        else f"{parent.column} + {parent.time_of_day_column}"
    )
    why = (
        "its only timed parent"
        if share is None
        else f"the latest of its timed parents for {share:.1%} of rows"
    )
    evidence = (
        f"no time column of its own; each row belongs to one {fk.references_table} row via {fk.column!r}, "
        f"{why}, so it takes {fk.references_table}.{source}"
    )
    return _inherited(fk, parent, evidence, inferred=True), ""


# ----------------------------------------------------------------------------- columns and report


def _columns(
    table: pa.Table,
    primary_key: str | None,
    fks: list[ForeignKey],
    time: TimeInfo | None,
    override: TableOverride,
    snapshot: dict[str, str],
) -> list[Column]:
    fk_by_column = {fk.column: fk for fk in fks}
    columns = []
    for field in table.schema:
        name = field.name
        if name == primary_key:
            stype, why = SType.KEY, "primary key"
        elif name in fk_by_column:
            fk = fk_by_column[name]
            stype, why = SType.KEY, f"foreign key to {fk.references_table}.{fk.references_column}"
        elif name in override.stypes:
            stype, why = override.stypes[name], "schema file"
        elif name in snapshot:
            stype, why = SType.IGNORED, f"{snapshot[name]}: it would reveal the future, so not a feature"
        elif time is not None and time.inherited_via is None and name == time.column:
            unit = epoch_unit(table.column(name))
            stype, why = SType.TIMESTAMP, "the row time" + (f", {epoch_evidence(unit)}" if unit else "")
        elif time is not None and time.inherited_via is None and name == time.time_of_day_column:
            stype, why = SType.IGNORED, f"clock part of the row time ({time.column} + {name})"
        else:
            stype, why = infer_stype(table.column(name), name)
        columns.append(Column(name, str(field.type), stype, why))
    return columns


def _row_times_or_none(tables: dict[str, pa.Table], schema: Schema) -> dict[str, np.ndarray] | None:
    try:
        return resolve_row_times(tables, schema)
    except SchemaError:
        return None  # reported where the time was chosen; never reached for validated times


#: A timestamp column later than its row's own time in more than this share of rows looks ahead.
FUTURE_COLUMN_SHARE = 0.01


def _hide_future_columns(
    schema: Schema, tables: dict[str, pa.Table], row_times: dict[str, np.ndarray] | None, warnings: list[str]
) -> None:
    """Timestamp columns that can hold times after their row's time (last edit, last access, closing
    time) would show a model the future of a row it sees in the past: they become IGNORED, not features.

    Caught by name (audit columns) or by data (later than the row time in over 1 % of rows); a schema
    file's stype wins.
    """
    for name, ts in schema.tables.items():
        own = ts.time.column if ts.time is not None and ts.time.inherited_via is None else None
        times = row_times.get(name) if row_times is not None else None
        for column in ts.columns:
            if column.stype is not SType.TIMESTAMP or column.name == own or column.evidence == "schema file":
                continue
            later = 0.0
            if times is not None:
                values, _ = parse_datetimes(tables[name].column(column.name))
                both = ~np.isnat(values) & ~np.isnat(times)
                later = float(np.mean(values[both] > times[both])) if both.any() else 0.0
            if AUDIT_PATTERN.search(column.name):
                why = "looks like an audit column (time of last change)"
            elif later > FUTURE_COLUMN_SHARE:
                why = f"later than the row's own time in {later:.0%} of rows"
            else:
                continue
            column.stype = SType.IGNORED
            column.evidence = f"{why}: it could reveal the future, so not a feature"
            warnings.append(
                f"{name}.{column.name}: {why}; not used as a feature (it could reveal the future); "
                'set its stype to "timestamp" in a schema file to use it anyway'
            )


#: A categorical column whose values each keep to their own period (rows of one value inside
#: another value's 1-99 % time range in under this share of rows) marks eras, not kinds.
ERA_OVERLAP_SHARE = 0.05
#: Values with fewer rows than this share (or 5 rows) are too rare to have a period of their own.
ERA_MIN_VALUE_SHARE = 0.005
#: More distinct values than this are not checked (eras are few: versions, licences, phases).
ERA_MAX_VALUES = 50


def era_overlap(codes: np.ndarray, times: np.ndarray) -> float | None:
    """Share of rows whose time lies in the 1-99 % time range of another value; None when fewer
    than two values are frequent enough to have a period.

    Args:
        codes: int [n] value codes (no nulls).
        times: datetime64 [n] row times (no NaT).
    """
    counts = np.bincount(codes)
    frequent = np.flatnonzero(counts >= max(5, ERA_MIN_VALUE_SHARE * len(codes)))
    if len(frequent) < 2 or len(frequent) > ERA_MAX_VALUES:
        return None
    keep = np.isin(codes, frequent)
    codes, seconds = codes[keep], times[keep].astype("datetime64[s]").astype(np.int64)
    inside_other = np.zeros(len(codes), dtype=bool)
    for value in frequent:
        lo, hi = np.quantile(seconds[codes == value], [0.01, 0.99])
        inside_other |= (seconds >= lo) & (seconds <= hi) & (codes != value)
    return float(inside_other.mean())


def _hide_era_columns(
    schema: Schema, tables: dict[str, pa.Table], row_times: dict[str, np.ndarray] | None, warnings: list[str]
) -> None:
    """Categorical columns whose values follow one another in time (a licence version, a schema
    version, a product generation) say *when* a row is, not what it is: every later period brings
    a value no training row had, and the row time already gives the period. They become IGNORED.

    A schema file's stype wins.
    """
    if row_times is None:
        return
    for name, ts in schema.tables.items():
        times = row_times.get(name)
        if times is None:
            continue
        for column in ts.columns:
            if column.stype is not SType.CATEGORICAL or column.evidence == "schema file":
                continue
            values = tables[name].column(column.name)
            valid = ~np.isnat(times) & ~np.asarray(values.is_null())
            if valid.sum() < 20:
                continue
            codes = np.asarray(pc.dictionary_encode(values.filter(pa.array(valid))).combine_chunks().indices)
            overlap = era_overlap(codes.astype(np.int64), times[valid])
            if overlap is None or overlap >= ERA_OVERLAP_SHARE:
                continue
            column.stype = SType.IGNORED
            column.evidence = (
                f"each value keeps to its own period ({overlap:.0%} of rows overlap another's): it marks an era, "
                "so later periods bring values unseen in training; the row time already says when"
            )
            warnings.append(
                f"{name}.{column.name}: each value keeps to its own period (an era marker such as a version); "
                'not used as a feature; set its stype to "categorical" in a schema file to use it anyway'
            )


def _report(
    schema: Schema, tables: dict[str, pa.Table], row_times: dict[str, np.ndarray] | None, warnings: list[str]
) -> None:
    """Warnings: dangling foreign keys, parent rows newer than their children."""
    for child, fk in schema.edges():
        if fk.dangling:
            warnings.append(
                f"{child}.{fk.column}: {fk.dangling} values ({1 - fk.coverage:.1%}) not found in "
                f"{fk.references_table}.{fk.references_column}; those links are dropped"
            )
    if row_times is None:
        return
    for child, fk in schema.edges():
        child_time = schema[child].time
        if child not in row_times or fk.references_table not in row_times or fk.references_table == child:
            continue
        if child_time is not None and child_time.inherited_via == fk.column:
            continue
        parent_times = _parent_values(tables, child, fk, row_times[fk.references_table])
        child_times = row_times[child]
        both = ~np.isnat(parent_times) & ~np.isnat(child_times)
        child_known, parent_known = child_times[both], parent_times[both]
        if _all_midnight(child_known) or _all_midnight(parent_known):
            # A date-only side cannot order events within a day: compare whole days.
            child_known, parent_known = (
                child_known.astype("datetime64[D]"),
                parent_known.astype("datetime64[D]"),
            )
        older = int(np.sum(child_known < parent_known))
        if older:
            warnings.append(
                f"{child}.{fk.column}: {older} of {int(both.sum())} rows ({older / both.sum():.1%}) are older than "
                f"their {fk.references_table} row (parent created after its child)"
            )


def _all_midnight(times: np.ndarray) -> bool:
    return bool(np.all(times == times.astype("datetime64[D]")))


def _parent_values(
    tables: dict[str, pa.Table], child: str, fk: ForeignKey, parent_times: np.ndarray
) -> np.ndarray:
    return lookup_parent_values(
        tables[child].column(fk.column),
        tables[fk.references_table].column(fk.references_column),
        parent_times,
    )
