"""Flat exports: columns that describe an implicit entity become that entity's own attributes.

A denormalised table (one file of order lines repeating ``customer_name`` and ``customer_country``
beside ``customer_id``) states each customer's attributes once per line. When relgraph makes a
table of an id column (:mod:`relgraph.schema.entities`), a column of the same source table whose
value is the same on every row of each entity (a functional dependency over all rows, nulls
counting as a value) is copied onto the entity's row: a feature of its node and of its LightGBM
row. On the source row it becomes ``ignored`` (its information lives on the entity).

Why this cannot leak the future: the value is constant per entity over *all* rows, so the value
an entity carries from its first appearance is the one every later row repeats. A column that
varies within one entity (a customer who moved country) stays on the row, where each row shows
its own value. Time columns never move (a row time, or a date that could come after the first
appearance), nor ignored columns (snapshots, columns that could reveal the future).

Inferred when the dependency holds and has evidence: at least ``MIN_REPEATED`` entities with two or
more rows, and at least two distinct values over the entities. A column that depends on several
made entities goes to the one with the fewest values (``customer_name`` depends on ``order_id``
too, when each order has one customer; it describes the customer). A schema file states them
(``attributes`` in :mod:`relgraph.schema.io`).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import SchemaError
from relgraph.schema.model import Column, Schema, SType, TableSchema
from relgraph.schema.stypes import infer_stype
from relgraph.schema.times import is_datetime_type, time_columns

#: Fewest entities with two or more rows that show a dependency (fewer: it may hold by chance).
MIN_REPEATED = 3
#: Source-row column names that cannot become an attribute column (the made table's own columns).
RESERVED = ("first_seen",)


def _key_values(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Entity ids as one type: whole-number floats (ids with nulls after pandas) become int64."""
    return pc.cast(values, pa.int64()) if pa.types.is_floating(values.type) else values


def _time_columns(table: TableSchema) -> set[str]:
    return set(time_columns(table.time)) if table.time is not None else set()


def _candidates(table: TableSchema, data: pa.Table, key: str) -> list[str]:
    """Columns of a source table that may describe the entity: features, no time, no key."""
    skip = _time_columns(table) | {key, *RESERVED}
    out = []
    for column in table.columns:
        if column.name in skip or column.stype in (SType.KEY, SType.IGNORED, SType.TIMESTAMP):
            continue
        if column.name in data.column_names and not is_datetime_type(data.schema.field(column.name).type):
            out.append(column.name)
    return out


def _per_entity(data: pa.Table, column: str, columns: list[str]) -> pa.Table:
    """Per entity (non-null ``column`` value): its rows and each column's distinct values (null counts)."""
    frame = pa.table({"__k": _key_values(data.column(column)), **{c: data.column(c) for c in columns}})
    frame = frame.filter(pc.is_valid(frame["__k"]))
    all_values = pc.CountOptions(mode="all")
    return frame.group_by("__k").aggregate([([], "count_all"), *((c, "count_distinct", all_values) for c in columns)])


def dependent_columns(schema: Schema, tables: dict[str, pa.Table], table: str, column: str) -> dict[str, str]:
    """Columns of ``table`` constant for each value of ``column`` (with evidence), see the module rules.

    Returns:
        ``{column: evidence}`` in table order; empty when none qualifies.
    """
    data = tables[table]
    columns = _candidates(schema[table], data, column)
    if not columns:
        return {}
    grouped = _per_entity(data, column, columns)
    repeated = pc.sum(pc.greater(grouped["count_all"], 1)).as_py() or 0
    if repeated < MIN_REPEATED:
        return {}
    out = {}
    for name in columns:
        if pc.max(grouped[f"{name}_count_distinct"]).as_py() != 1:
            continue
        out[name] = (
            f"one value per {column} over all {data.num_rows:,} rows of {table} "
            f"({repeated:,} of {grouped.num_rows:,} {column} values repeat)"
        )
    return out


def varying_example(tables: dict[str, pa.Table], table: str, column: str, attribute: str) -> str | None:
    """``"7: 'N', 'S'"``: an entity whose rows disagree on ``attribute`` (None: it is constant per entity)."""
    grouped = _per_entity(tables[table], column, [attribute])
    varying = grouped.filter(pc.greater(grouped[f"{attribute}_count_distinct"], 1))
    if varying.num_rows == 0:
        return None
    entity = varying["__k"][0]
    rows = tables[table].filter(pc.equal(_key_values(tables[table].column(column)), entity))
    values = pc.unique(rows.column(attribute)).to_pylist()[:3]
    return f"{entity.as_py()!r}: {', '.join(repr(v) for v in values)}"


def attribute_values(
    entity: pa.Table, key: str, tables: dict[str, pa.Table], attributes: list[str], sources: list[str]
) -> pa.Table:
    """``entity`` (one row per id, sorted by id) with each ``"table.column"`` attribute appended,
    taken from the first row of each id in that table (all rows agree); null for ids not there."""
    for attribute in attributes:
        table, name = _split_attribute(attribute, tables)
        column = _source_column([_split_attribute(s, tables) for s in sources], table)
        data = tables[table]
        frame = pa.table({"__k": _key_values(data.column(column)), name: data.column(name)})
        frame = frame.filter(pc.is_valid(frame["__k"]))
        first = frame.group_by("__k", use_threads=False).aggregate([(name, "first")])
        found = pc.index_in(entity.column(key), value_set=first["__k"].combine_chunks())
        entity = entity.append_column(name, pc.take(first[f"{name}_first"], found))
    return entity


def _source_column(sources: list[tuple[str, str]], table: str) -> str:
    """The made table's source column in ``table`` (attributes come from tables holding one)."""
    return next(c for t, c in sources if t == table)


def _split_attribute(attribute: str, tables: dict[str, pa.Table]) -> tuple[str, str]:
    matches = [t for t in tables if attribute.startswith(t + ".")]
    table = max(matches, key=len)
    return table, attribute[len(table) + 1 :]


def choose_attributes(
    schema: Schema,
    tables: dict[str, pa.Table],
    entities: dict[str, list[tuple[str, str]]],
    given: dict[str, list[str]],
    where: str,
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Attributes of each made table: ``given`` ones (from a schema file: checked, or a one-line
    :class:`SchemaError`), inferred ones for the rest, each column to one entity only.

    Args:
        schema: the schema, made tables added and their source columns foreign keys.
        tables: the source's Arrow tables.
        entities: made table -> its ``(table, column)`` sources.
        given: made table -> ``"table.column"`` attributes a schema file states (``[]``: none);
            columns that depend on such a table and that the file does not list stay on the rows.
        where: ``schema file <path>`` for messages.
    Returns:
        made table -> ``"table.column"`` attributes, in source column order; and the evidence of
        each inferred attribute.
    """
    out: dict[str, list[str]] = {}
    taken: dict[str, str] = {}
    for name, attributes in given.items():
        sources = entities[name]
        for attribute in attributes:
            table, column = _check_given(schema, tables, name, sources, attribute, where)
            if attribute in taken:
                raise SchemaError(f"{where}: {attribute} is an attribute of both tables.{taken[attribute]} and tables.{name}")
            source = _source_column(sources, table)
            example = varying_example(tables, table, source, column)
            if example is not None:
                raise SchemaError(
                    f"{where}: tables.{name}.attributes: {attribute} varies within one {source} ({example}); "
                    "leave it on the row"
                )
            taken[attribute] = name
        out[name] = list(attributes)
    # (table, column) -> [(entity's number of values, made table, evidence)]
    found: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for name, sources in entities.items():
        for table, column in _single_sources(sources):
            values = len(pc.unique(tables[table].column(column)))
            for attribute, why in dependent_columns(schema, tables, table, column).items():
                found.setdefault((table, attribute), []).append((values, name, why))
    evidence: dict[str, str] = {}
    for (table, column), owners in found.items():
        _, name, why = min(owners)  # the coarsest entity it describes
        if any(owner in given for _, owner, _ in owners):
            continue  # a file decides for its entity's columns: those it does not list stay on the rows
        attribute = f"{table}.{column}"
        names = {_split_attribute(a, tables)[1] for a in out.get(name, [])} | set(schema[name].column_names)
        if attribute in taken or column in names:  # a column name the made table already has
            continue
        out.setdefault(name, []).append(attribute)
        evidence[attribute] = why
    return out, evidence


def _single_sources(sources: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Sources alone in their table: with two (``winner_id``, ``loser_id``), a row names two entities."""
    tables = [t for t, _ in sources]
    return [(t, c) for t, c in sources if tables.count(t) == 1]


def _check_given(
    schema: Schema, tables: dict[str, pa.Table], name: str, sources: list[tuple[str, str]], attribute: str, where: str
) -> tuple[str, str]:
    what = f"{where}: tables.{name}.attributes"
    source_tables = [t for t, _ in sources]
    matches = [t for t in source_tables if attribute.startswith(t + ".")]
    if not matches:
        raise SchemaError(
            f"{what}: {attribute!r} is not a column of a source table of {name} ({', '.join(source_tables)}); "
            'write "table.column"'
        )
    table = max(matches, key=len)
    column = attribute[len(table) + 1 :]
    if (table, _source_column(sources, table)) not in _single_sources(sources):
        raise SchemaError(f"{what}: {table} holds several source columns of {name}, so a row names several; "
                          "its columns stay on the rows")
    if column not in tables[table].column_names:
        raise SchemaError(f"{what}: column {table}.{column} does not exist")
    spec = schema[table].column(column)
    if spec.stype is SType.KEY or column in _time_columns(schema[table]) or column in RESERVED:
        raise SchemaError(f"{what}: {attribute} is a key or the row time of {table}; it stays on the row")
    return table, column


def apply_attributes(
    schema: Schema, made: str, data: pa.Table, attributes: list[str], evidence: dict[str, str], origin: str
) -> None:
    """Record ``attributes`` on the made table's schema (columns typed from one value per entity)
    and mark their source columns as ``ignored`` (their information lives on the entity)."""
    ts = schema[made]
    ts.attributes = list(attributes)
    key = ts.primary_key
    for attribute in attributes:
        table = max((t for t in schema.tables if attribute.startswith(t + ".")), key=len)
        name = attribute[len(table) + 1 :]
        stype, why = infer_stype(data.column(name), name)
        how = evidence.get(attribute) or origin
        ts.columns.append(Column(name, str(data.schema.field(name).type), stype, f"attribute from {attribute}: {how}; {why}"))
        row = schema[table].column(name)
        row.stype, row.evidence = SType.IGNORED, f"depends only on {key}: an attribute of table {made}"
