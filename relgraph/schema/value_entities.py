"""Entities a query asks for: ``FOR EACH commits.author_email`` when no table lists authors.

A user asking per author, per store code, per country means the distinct values of that column.
:func:`add_value_entity` makes the column an implicit table on request, as
:mod:`relgraph.schema.entities` does for inferred ``..._id`` columns (one row per value, own time
``first_seen``, the column a foreign key to it, flat-export attributes moved onto it), so graph,
sampling, features and queries treat it as any other table. ``Database.with_entity`` calls it.

A column whose values do not name things is refused with a one-line reason (:func:`refusal`):
times, measurements (floats with fractions, integer quantities not named as ids or codes), yes/no
flags, free text and lists, fewer than ``MIN_DISTINCT`` values (a category: a feature or a WHERE
condition), or nearly unique values (each names one row, not something that recurs).
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import QueryError
from relgraph.schema.attributes import apply_attributes, attribute_values, choose_attributes
from relgraph.schema.entities import (
    FIRST_SEEN,
    ID_SUFFIX,
    MIN_DISTINCT,
    entity_schema,
    entity_table,
    link_entity,
)
from relgraph.schema.model import Schema, SType
from relgraph.schema.stypes import MAX_CATEGORICAL_LENGTH, distinct_count
from relgraph.schema.times import (
    is_clock_type,
    is_datetime_type,
    is_stringlike,
    is_whole_number,
    resolve_row_times,
)

#: Largest share of distinct values among a column's non-null values for it to name recurring things.
MAX_DISTINCT_SHARE = 0.9
#: Integer columns named as codes or numbers of things (``store_code``, ``zip``, ``account_no``).
CODE_NAME = re.compile(r"(code|number|num|no|nr|key|zip|postcode|postal|sku|ean|isbn|iso)$", re.IGNORECASE)


def refusal(values: pa.ChunkedArray, stype: SType, table: str, name: str) -> str | None:
    """Why a column's values cannot be entities, or None when they can (see the module rules)."""
    dtype = values.type
    non_null = len(values) - values.null_count
    if non_null == 0:
        return "every value is null"
    if is_datetime_type(dtype) or is_clock_type(dtype) or stype is SType.TIMESTAMP:
        return f"its values are times ({dtype}), not names of things"
    if pa.types.is_boolean(dtype):
        return "a yes/no flag, not names of things"
    if pa.types.is_floating(dtype) and not is_whole_number(values):
        return f"its values are measurements ({dtype} with fractions), not names of things"
    if not (pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or is_stringlike(dtype)):
        return f"{dtype} values cannot name entities"
    if is_stringlike(dtype):
        length = pc.mean(pc.utf8_length(values.drop_null().cast(pa.string()))).as_py()
        if length > MAX_CATEGORICAL_LENGTH:
            return f"free text (mean length {length:.0f} characters), not names of things"
    if stype is SType.MULTICATEGORICAL:
        return "its values are lists (several names per row)"
    distinct = distinct_count(values)
    if distinct < MIN_DISTINCT:
        return f"only {distinct} distinct values: a category; use it as a feature or in WHERE"
    if distinct > MAX_DISTINCT_SHARE * non_null:
        return (
            f"nearly every value is distinct ({distinct:,} in {non_null:,} rows): each names one row, "
            "not something that recurs"
        )
    if stype is SType.NUMERICAL and not (ID_SUFFIX.search(name) or CODE_NAME.search(name)):
        return (
            f"a quantity ({dtype} with {distinct:,} values), not names of things; if its values are codes, "
            f'declare [tables.{name}] implicit = ["{table}.{name}"] in a schema file'
        )
    return None


def entity_name(schema: Schema, table: str, column: str) -> str:
    """The made table's name: the column's, or ``<table>_<column>`` when a table has that name."""
    for name in (column, f"{table}_{column}"):
        if name not in schema:
            return name
    raise QueryError(f"FOR EACH {table}.{column}: tables {column} and {table}_{column} exist; rename one")


def add_value_entity(schema: Schema, tables: dict[str, pa.Table], table: str, column: str) -> str:
    """Make ``table.column`` an entity in ``schema`` (changed in place) and return the made table's
    name; its data is left to ``entities.materialise`` (the Database does it).

    Raises:
        QueryError: the column's values cannot name entities (one line: the column and why).
    """
    ts = schema[table]
    stype = ts.column(column).stype
    if stype is SType.KEY:
        raise QueryError(f"FOR EACH {table}.{column}: it is a key of {table} already")
    why = refusal(tables[table].column(column), stype, table, column)
    if why is not None:
        raise QueryError(f"FOR EACH {table}.{column}: cannot be an entity: {why}")
    name = entity_name(schema, table, column)
    origin = f"FOR EACH {table}.{column}"
    timed = ts.time is not None
    row_times = resolve_row_times(tables, schema) if timed else {}
    data = entity_table(tables, row_times, [(table, column)], column, timed)
    schema.tables[name] = entity_schema(name, data, column, [f"{table}.{column}"], timed, origin)
    link_entity(ts, column, name, column, origin)
    chosen, evidence = choose_attributes(schema, tables, {name: [(table, column)]}, {}, origin)
    if chosen.get(name):
        data = attribute_values(data, column, tables, chosen[name], [f"{table}.{column}"])
        apply_attributes(schema, name, data, chosen[name], evidence, origin)
    schema.warnings.append(entity_note(schema, name))
    return name


def entity_note(schema: Schema, name: str) -> str:
    """``commits.author_email: entity made from 1,234 distinct values (first_seen time)``, plus its attributes."""
    ts = schema[name]
    values = ts.rows
    time = f"{FIRST_SEEN} time" if ts.time is not None else "static, as its source table is"
    attributes = f"; attributes {', '.join(ts.attributes)}" if ts.attributes else ""
    return f"{', '.join(ts.implicit_from)}: entity made from {values:,} distinct values ({time}){attributes}"
