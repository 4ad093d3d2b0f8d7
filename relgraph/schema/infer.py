"""``build_schema``: declared keys first, inferred keys and times next, schema-file overrides last.

Inference rules (each inferred item records its evidence as one readable sentence):

Primary and foreign keys (single-column, composite, by name and by values): see
:mod:`relgraph.schema.keys`.

Time columns (tables without a declared or file-given time; a source that declares time columns,
like RelBench, declares all of them): date/timestamp columns, ISO date strings and integer Unix
epoch times (seconds, milliseconds or microseconds, 1990 to 2100) in columns named as times
(``created_at``, ``event_time``; see ``times.epoch_column_unit``), preferring creation names
(``created``, ``CreationDate``) over plain ``date``/``time`` over other ``...date``/``...time``/
``..._at`` names over unnamed ones. Birth dates (``dob``, ``birth...``) are never row times (a
feature of a static row). Audit columns (``last_update``, ``updated_at``, ``modified``,
``LastEditDate``) are never row times: a table with nothing else is static. A date-only column with
a clock-time companion (``date`` + ``time``, ``fp1_date`` + ``fp1_time``) is combined with it.
Dates split over columns, bare years of event tables, times later than the events referencing
their rows, and which parents a table may inherit from: see :mod:`relgraph.schema.time_inference`.

Inherited time: a table without its own time that references exactly one timed table (own or
inherited time, self-references excluded) takes that parent's row time through the foreign key.
With several timed parents (an order item belongs to an order and to a product) it takes the
parent that is the latest for at least 95 % of its rows (the order), so a row never appears
before any of its parents; when no parent dominates it stays static with a warning saying how
to choose in the schema file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.connectors.base import SourceData
from relgraph.errors import SchemaError
from relgraph.schema.entities import add_implicit_tables
from relgraph.schema.io import SchemaOverrides, TableOverride, closest, load_schema_file
from relgraph.schema.keys import infer_keys, split_reference, table_stems
from relgraph.schema.model import (
    Column,
    ForeignKey,
    Schema,
    SType,
    TableSchema,
    TimeInfo,
)
from relgraph.schema.stypes import infer_stype
from relgraph.schema.table_times import table_times
from relgraph.schema.times import (
    AUDIT_PATTERN,
    epoch_evidence,
    lookup_parent_values,
    number_format,
    parse_datetimes,
    resolve_row_times,
)


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
    for name, parts in data.parts.items():
        warnings.append(
            f"{name}: one table from {len(parts.files)} files with the same columns ({', '.join(parts.files)}); "
            f"column {parts.column!r} says which; set tables.{name}.parts = false in a schema file to read them apart"
        )

    inferred_keys = infer_keys(data, overrides, warnings)
    keys, foreign = inferred_keys.primary, inferred_keys.foreign
    static_reasons: dict[str, str] = {}
    late_columns: dict[str, tuple[str, str]] = {}
    times = table_times(data, keys, foreign, overrides, warnings, static_reasons, late_columns, inferred_keys.composite_foreign)

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
            composite_key=key.columns,
            composite_foreign_keys=inferred_keys.composite_foreign[name],
        )
    for name, (column, why) in late_columns.items():
        if column not in overrides.tables.get(name, TableOverride()).stypes:
            late = schema_tables[name].column(column)
            late.stype, late.evidence = SType.IGNORED, f"{why}: it could reveal the future, so not a feature"
    schema = Schema(tables=schema_tables, warnings=warnings, rejected_keys=inferred_keys.rejected)
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
        if override.implicit is not None or override.attributes is not None or override.parts is False:
            continue  # a table relgraph makes (schema/entities.py), or files read apart by relgraph.connect
        if name not in tables:
            raise SchemaError(f"{where}: table {name!r} does not exist{closest(name, list(tables))}")
        columns = tables[name].column_names
        named = list(override.stypes)
        if isinstance(override.primary_key, str):
            named.append(override.primary_key)
        elif isinstance(override.primary_key, list):
            named += override.primary_key
        named += [c for columns in override.not_foreign_keys for c in columns]
        if override.time is not None:
            named += [
                c for c in (override.time.column, override.time.time_of_day, override.time.inherit_via) if c
            ]
            named += list(override.time.parts.values())
        for column, reference in override.foreign_keys or []:
            named.append(column)
            ref_table, ref_column = split_reference(reference, tables, f"{where}: {name}.{column}")
            if ref_column not in tables[ref_table].column_names:
                raise SchemaError(
                    f"{where}: {name}.{column} references missing column {ref_table}.{ref_column}"
                    f"{closest(ref_column, tables[ref_table].column_names)}"
                )
        for fk_columns, ref_table, _ in override.composite_foreign_keys or []:
            named += fk_columns
            if ref_table not in tables:
                raise SchemaError(
                    f"{where}: {name}.({', '.join(fk_columns)}) references missing table {ref_table!r}"
                    f"{closest(ref_table, list(tables))}"
                )
        for column in named:
            if column not in columns:
                raise SchemaError(f"{where}: column {name}.{column} does not exist{closest(column, columns)}")


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
        elif time is not None and time.inherited_via is None and name == time.column and time.parts:
            stype, why = SType.IGNORED, f"year of the row time ({', '.join([name, *time.parts.values()])})"
        elif time is not None and time.inherited_via is None and name == time.column:
            unit = number_format(table.column(name))
            stype, why = SType.TIMESTAMP, "the row time" + (f", {epoch_evidence(unit)}" if unit else "")
        elif time is not None and time.inherited_via is None and name == time.time_of_day_column:
            stype, why = SType.IGNORED, f"clock part of the row time ({time.column} + {name})"
        elif time is not None and time.inherited_via is None and name in time.parts.values():
            stype, why = SType.IGNORED, f"part of the row time ({', '.join([time.column, *time.parts.values()])})"
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
