"""Composite keys: declared, file-given (checked against the data) or inferred as a unique pair
that other tables' same-named columns point into (rules in :mod:`relgraph.schema.keys`)."""

from __future__ import annotations

import itertools

import pyarrow as pa

from relgraph.connectors.base import SourceData
from relgraph.errors import SchemaError
from relgraph.schema.foreign_keys import MIN_COVERAGE
from relgraph.schema.io import SchemaOverrides, closest
from relgraph.schema.key_checks import (
    all_valid,
    columns_text,
    is_key_type,
    is_unique,
    is_unique_tuple,
    row_codes,
    too_low,
    tuple_containment,
)
from relgraph.schema.model import CompositeForeignKey, RejectedKey
from relgraph.schema.primary_keys import Key
from relgraph.schema.stypes import distinct_count
from relgraph.schema.times import is_datetime_type

#: Composite keys are looked for among at most this many shared columns of a table (pairs grow quadratically).
MAX_COMPOSITE_COLUMNS = 12


def validate_composite_key(table_name: str, columns: list[str], table: pa.Table, source: str) -> None:
    """A declared or file-given composite key: existing columns, no nulls, no tuple twice."""
    where = f"{table_name}.{columns_text(columns)}"
    for column in columns:
        if column not in table.column_names:
            raise SchemaError(
                f"{where}: composite primary key ({source}) names missing column {column!r}"
                f"{closest(column, table.column_names)}"
            )
    values = [table.column(c) for c in columns]
    nulls = int((~all_valid(values)).sum())
    if nulls:
        raise SchemaError(f"{where}: composite primary key has {nulls} rows with a NULL part; fix the data")
    codes = row_codes(values)
    duplicates = len(codes) - distinct_count(codes)
    if duplicates:
        raise SchemaError(
            f"{where}: composite primary key has {duplicates} duplicate rows; fix the data or name other columns"
        )


def _is_component_type(dtype: pa.DataType) -> bool:
    """Types a composite-key part can have: integers, strings, dates and timestamps."""
    return is_key_type(dtype) or is_datetime_type(dtype)


def composite_foreign_keys(
    data: SourceData,
    primary: dict[str, Key],
    overrides: SchemaOverrides,
    rejected: list[RejectedKey],
    infer: bool,
) -> dict[str, list[CompositeForeignKey]]:
    """Declared, file-given and inferred composite references; infers composite keys on the way."""
    tables = data.tables
    out: dict[str, list[CompositeForeignKey]] = {name: [] for name in tables}
    stated: set[str] = set()
    for name in tables:
        override = overrides.tables.get(name)
        if override is not None and override.foreign_keys is not None:
            stated.add(name)
            for columns, ref_table, ref_columns in override.composite_foreign_keys or []:
                out[name].append(
                    _declared_composite_fk(
                        tables,
                        primary,
                        name,
                        columns,
                        ref_table,
                        ref_columns,
                        f"schema file {overrides.path}",
                    )
                )
        elif data.declared.composite.foreign_keys.get(name):
            stated.add(name)
            for columns, ref_table, ref_columns in data.declared.composite.foreign_keys[name]:
                out[name].append(
                    _declared_composite_fk(
                        tables, primary, name, columns, ref_table, ref_columns, "declared by the source"
                    )
                )
    if not infer:
        return out
    excluded = {
        name: [sorted(c) for c in override.not_foreign_keys if len(c) > 1]
        for name, override in overrides.tables.items()
    }
    for parent, key in primary.items():
        if not key.undecided:
            continue
        found = _infer_composite_key(parent, tables, stated, excluded, rejected)
        if found is None:
            continue
        columns, refs = found
        pointing = ", ".join(f"{child} {columns_text(columns)} ({fk.coverage:.1%})" for child, fk in refs)
        primary[parent] = Key(
            None,
            True,
            f"unique, non-null pair that other tables' values point into: {pointing}",
            columns=columns,
        )
        for child, fk in refs:
            out[child].append(fk)
    return out


def _infer_composite_key(
    parent: str,
    tables: dict[str, pa.Table],
    stated: set[str],
    excluded: dict[str, list[list[str]]],
    rejected: list[RejectedKey],
) -> tuple[list[str], list[tuple[str, CompositeForeignKey]]] | None:
    """The unique pair of ``parent``'s columns that most other tables point into by same-named columns."""
    table = tables[parent]
    children = [c for c in tables if c != parent and c not in stated]
    shared = [
        column
        for column in table.column_names
        if _is_component_type(table.column(column).type)
        and table.column(column).null_count == 0
        and any(column in tables[child].column_names for child in children)
    ][:MAX_COMPOSITE_COLUMNS]
    best: tuple[tuple[int, float], list[str], list[tuple[str, CompositeForeignKey]]] | None = None
    unique_column = {c: is_unique_tuple([table.column(c)]) for c in shared}
    for pair in itertools.combinations(shared, 2):
        columns = list(pair)
        referencing = [c for c in children if all(p in tables[c].column_names for p in pair)]
        referencing = [c for c in referencing if sorted(columns) not in excluded.get(c, [])]
        if not referencing:
            continue
        parent_values = [table.column(c) for c in pair]
        if any(unique_column[c] for c in pair) or not is_unique_tuple(parent_values):
            continue  # a unique single column needs no pair
        refs = []
        for child in referencing:
            child_values = [tables[child].column(c) for c in pair]
            if any(not _is_component_type(v.type) for v in child_values):
                continue
            coverage, dangling = tuple_containment(child_values, parent_values)
            if too_low(rejected, child, columns, f"{parent}.{columns_text(columns)}", coverage, MIN_COVERAGE):
                continue
            complete = pa.array(all_valid(child_values))  # rows with a null part point nowhere
            if is_unique_tuple([v.filter(complete) for v in child_values]):  # siblings sharing an id and a date
                rejected.append(RejectedKey(
                    child, columns, f"{parent}.{columns_text(columns)}", coverage,
                    "one-to-one: the pair is unique in both tables (two records of one entity, not a reference)",
                ))
                continue
            rows = int(all_valid(child_values).sum())
            evidence = (
                f"same-named columns; {coverage:.1%} of {rows} rows without nulls found in "
                f"{parent}.{columns_text(columns)}, a unique pair"
            )
            refs.append(
                (child, CompositeForeignKey(columns, parent, columns, True, coverage, evidence, dangling))
            )
        if not refs:
            continue
        rank = (len(refs), sum(fk.coverage for _, fk in refs))
        if best is None or rank > best[0]:
            best = (rank, columns, refs)
    return None if best is None else (best[1], best[2])


def _declared_composite_fk(
    tables: dict[str, pa.Table],
    primary: dict[str, Key],
    table: str,
    columns: list[str],
    ref_table: str,
    ref_columns: list[str] | None,
    source: str,
) -> CompositeForeignKey:
    """A declared or file-given composite reference, checked against the data."""
    where = f"{table}.{columns_text(columns)}"
    for column in columns:
        if column not in tables[table].column_names:
            raise SchemaError(
                f"{where}: composite foreign key ({source}) names missing column {column!r}"
                f"{closest(column, tables[table].column_names)}"
            )
    if ref_table not in tables:
        raise SchemaError(
            f"{where}: references missing table {ref_table!r}{closest(ref_table, list(tables))}"
        )
    if ref_columns is None:
        ref_columns = primary[ref_table].columns
        if ref_columns is None or len(ref_columns) != len(columns):
            raise SchemaError(
                f"{where}: {ref_table} has no composite key of {len(columns)} columns to reference; "
                "give references_columns or declare its primary_key as a list"
            )
    for column in ref_columns:
        if column not in tables[ref_table].column_names:
            raise SchemaError(
                f"{where}: references missing column {ref_table}.{column}"
                f"{closest(column, tables[ref_table].column_names)}"
            )
    parent_values = [tables[ref_table].column(c) for c in ref_columns]
    if not all_valid(parent_values).all() or not is_unique(row_codes(parent_values)):
        raise SchemaError(
            f"{where}: references {ref_table}.{columns_text(ref_columns)}, which is not unique and non-null; "
            "reference a key"
        )
    coverage, dangling = tuple_containment([tables[table].column(c) for c in columns], parent_values)
    return CompositeForeignKey(list(columns), ref_table, list(ref_columns), False, coverage, source, dangling)
