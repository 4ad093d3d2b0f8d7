"""Entities without a table of their own: ``ratings.userId`` when there is no users table.

An id column whose values no table lists (MovieLens ratings and tags carry ``userId``, no users
file exists) would otherwise be a number or category on its rows: no node, no messages between
the ratings of one user, no ``FOR EACH``. relgraph makes it an *implicit table*: one row per
distinct non-null value, with a ``first_seen`` time, the earliest row time at which the value
appears in any of its source columns (it does not exist before), and the source columns become
foreign keys to it. Columns of the same name in several tables (``ratings.userId``,
``tags.userId``) make one table. The Database materialises the table as Arrow
(:func:`materialise`), so graph, sampling, queries and features treat it as any other table.

Inferred from a column when all hold (sources that declare keys get none inferred):

- it is not its table's primary key or a foreign key, and its name ends with ``id`` as a word
  (``userId``, ``user_id``, ``UserID``; not ``grid``), and names no type code (``PostTypeId``, ``statusId``,
  see ``TYPE_CODE``);
- no table is named after it (``movieId`` with a ``movies`` table is a reference that failed its
  coverage check, reported as such, not a new entity);
- its values are integers or strings (whole-number floats too), at least ``MIN_DISTINCT``
  distinct, and some repeat (a column unique per row identifies rows, not entities).

The name is the column's (``userId``), ``<table>_<column>`` when a table has that name. A
schema file names, merges or turns them off (``implicit`` in :mod:`relgraph.schema.io`).
Columns of a flat export that take one value per entity become the made table's own columns
(:mod:`relgraph.schema.attributes`); a query's ``FOR EACH`` makes any column whose values name
things an implicit table on request (:mod:`relgraph.schema.value_entities`).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import SchemaError
from relgraph.schema.attributes import apply_attributes, attribute_values, choose_attributes
from relgraph.schema.io import SchemaOverrides, closest
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo
from relgraph.schema.stypes import distinct_count
from relgraph.schema.time_inference import YEAR_NAME
from relgraph.schema.times import (
    is_stringlike,
    is_whole_number,
    norm,
    number_format,
    resolve_row_times,
    time_columns,
)

#: Name of the time column of an implicit table: each value's first appearance.
FIRST_SEEN = "first_seen"
#: Fewest distinct values an inferred entity has (fewer: a flag or code, better as a category).
MIN_DISTINCT = 3
#: Names ending in ``id`` as a word: ``userId``, ``user_id``, ``USER_ID``, ``UserID`` (not ``grid``, ``paid``).
ID_SUFFIX = re.compile(r"(?:[a-z0-9]Id|[a-zA-Z0-9]ID|[_\- ][iI][dD])$")
#: ``...Id`` names of codes that classify rows rather than name entities (``PostTypeId``, ``statusId``).
TYPE_CODE = re.compile(r"(type|kind|status|state|category|class|level|grade|mode|code|flag)$")


def _sources_key(sources: list[str]) -> str:
    """Key column name of an implicit table: the shared column name, or ``id`` when names differ."""
    names = {source.split(".")[-1] for source in sources}
    return names.pop() if len(names) == 1 else "id"


def _split(source: str, tables: dict[str, pa.Table], where: str) -> tuple[str, str]:
    """``"ratings.userId"`` -> ``("ratings", "userId")``, checked against ``tables``."""
    matches = [t for t in tables if source.startswith(t + ".")]
    if not matches:
        head = source.split(".", 1)[0]
        raise SchemaError(f"{where}: source {source!r} names no table{closest(head, list(tables))}")
    table = max(matches, key=len)
    column = source[len(table) + 1 :]
    if column not in tables[table].column_names:
        raise SchemaError(
            f"{where}: column {table}.{column} does not exist{closest(column, tables[table].column_names)}"
        )
    return table, column


def _is_id_type(values: pa.ChunkedArray) -> bool:
    if pa.types.is_floating(values.type):
        return is_whole_number(values)
    return pa.types.is_integer(values.type) or is_stringlike(values.type)


def _key_values(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Entity ids as one type: whole-number floats (ids with nulls after pandas) become int64."""
    return pc.cast(values, pa.int64()) if pa.types.is_floating(values.type) else values


def _candidate(schema: TableSchema, table: pa.Table, column: str, table_stems: set[str]) -> bool:
    """A column whose name and type say "id of something" and that is no key yet."""
    if column == schema.primary_key or column in {fk.column for fk in schema.foreign_keys}:
        return False
    if schema.time is not None and column in time_columns(schema.time):
        return False  # the table's own time (a season's yearID): a time, not an entity
    return names_an_id(table, column, table_stems)


def names_an_id(table: pa.Table, column: str, table_stems: set[str]) -> bool:
    """``column``'s name and type say "id of something" that has no table (``table_stems``: the
    names of the tables there are); a year (``yearID`` holding 1871..2019) is a time, not an id."""
    if not ID_SUFFIX.search(column):
        return False
    prefix = norm(column)[:-2]
    if TYPE_CODE.search(prefix) or prefix in table_stems:
        return False
    values = table.column(column)
    if YEAR_NAME.match(norm(column)) and number_format(values) == "year":
        return False
    return _is_id_type(values) and values.null_count < len(values)


def _names_entities(tables: dict[str, pa.Table], sources: list[tuple[str, str]]) -> bool:
    """Enough distinct ids over all sources, some of them repeated (else they identify rows)."""
    keys = pa.chunked_array([c for t, col in sources for c in _key_values(tables[t].column(col)).chunks])
    keys = keys.drop_null()
    distinct = distinct_count(keys)
    return MIN_DISTINCT <= distinct < len(keys)


def infer_sources(
    schema: Schema,
    tables: dict[str, pa.Table],
    table_stems: dict[str, set[str]],
    stated: frozenset[str] | set[str] = frozenset(),
) -> dict[str, list[str]]:
    """Inferred implicit tables: name -> ``"table.column"`` sources (see the module docstring).

    Args:
        schema: the schema of the source's own tables, keys and times decided.
        tables: their Arrow data.
        table_stems: each table's normalised name forms (plural and singular).
        stated: tables whose foreign keys a schema file states in full (none inferred there).
    """
    stems = set().union(*table_stems.values()) if table_stems else set()
    by_name: dict[str, list[tuple[str, str]]] = {}
    for name, ts in schema.tables.items():
        if name in stated:
            continue
        for column in tables[name].column_names:
            if _candidate(ts, tables[name], column, stems):
                by_name.setdefault(column, []).append((name, column))
    out: dict[str, list[str]] = {}
    for column, sources in by_name.items():
        kinds = {is_stringlike(tables[t].column(c).type) for t, c in sources}
        if len(kinds) > 1 or not _names_entities(tables, sources):  # numbers and text: not one kind of id
            continue
        name = column if column not in tables else f"{sources[0][0]}_{column}"
        out[name] = [f"{t}.{c}" for t, c in sources]
    return out


def add_implicit_tables(
    schema: Schema,
    tables: dict[str, pa.Table],
    overrides: SchemaOverrides,
    table_stems: dict[str, set[str]],
    infer: bool,
) -> dict[str, pa.Table]:
    """Add implicit tables to ``schema`` (file-given first, then inferred when ``infer``) and
    return their Arrow data; their source columns become foreign keys to them.

    Raises:
        SchemaError: a schema file's implicit table names an existing table, a missing column,
            a column already used as a key, columns of different kinds, or turns off an entity
            relgraph does not infer.
    """
    where = f"schema file {overrides.path}"
    declared = {n: o.implicit for n, o in overrides.tables.items() if isinstance(o.implicit, list)}
    turned_off = [n for n, o in overrides.tables.items() if o.implicit is False]
    wanted: dict[str, tuple[list[str], str]] = {}
    used: dict[tuple[str, str], str] = {}
    for name, sources in declared.items():
        if name in tables:
            raise SchemaError(
                f"{where}: tables.{name}.implicit: {name} is a table of the source; name the made table otherwise"
            )
        for source in sources:
            pair = _split(source, tables, f"{where}: tables.{name}.implicit")
            ts = schema[pair[0]]
            if pair[1] == ts.primary_key or pair[1] in {fk.column for fk in ts.foreign_keys}:
                raise SchemaError(
                    f"{where}: tables.{name}.implicit: {source} is already a key of {pair[0]}; "
                    "leave it out or drop that key in the file"
                )
            if pair in used:
                raise SchemaError(f"{where}: {source} is in both tables.{used[pair]} and tables.{name}.implicit")
            used[pair] = name
        wanted[name] = (sources, where)
    stated = {n for n, o in overrides.tables.items() if o.foreign_keys is not None}
    inferred = infer_sources(schema, tables, table_stems, stated) if infer else {}
    for name in turned_off:
        if name not in inferred:
            known = ", ".join(inferred) or "none"
            raise SchemaError(
                f"{where}: tables.{name}.implicit = false, but relgraph infers no implicit table {name!r} "
                f"(inferred: {known}){closest(name, list(inferred))}"
            )
    for name, sources in inferred.items():
        if name in turned_off or name in wanted:
            continue
        free = [s for s in sources if _split(s, tables, name) not in used]
        if free:
            wanted[name] = (free, "inferred")
    out: dict[str, pa.Table] = {}
    row_times = resolve_row_times(tables, schema) if wanted else {}
    made: dict[str, list[tuple[str, str]]] = {}
    for name, (sources, origin) in wanted.items():
        pairs = [_split(s, tables, f"{where}: tables.{name}.implicit") for s in sources]
        kinds = {is_stringlike(tables[t].column(c).type) for t, c in pairs}
        if len(kinds) > 1:
            raise SchemaError(
                f"{where}: tables.{name}.implicit mixes number and text columns ({', '.join(sources)}); "
                "list columns holding the same ids"
            )
        key = _sources_key(sources)
        timed = all(schema[t].time is not None for t, _ in pairs)
        data = entity_table(tables, row_times, pairs, key, timed)
        out[name] = data
        schema.tables[name] = entity_schema(name, data, key, sources, timed, origin)
        _check_file_entry(overrides, name, key, timed, where)
        made[name] = pairs
        for table, column in pairs:
            link_entity(schema[table], column, name, key, origin)
        if origin == "inferred":
            schema.warnings.append(
                f"{', '.join(sources)}: no table lists these ids, so relgraph made table {name!r} (one row per "
                f"value, from its first appearance); set tables.{name}.implicit = false in a schema file to keep "
                "them plain columns" + _lookalike(schema, tables, data.column(key), sources)
            )
    given = _given_attributes(overrides, made, where)
    chosen, evidence = choose_attributes(schema, tables, made, given, where)
    for name, attributes in chosen.items():
        ts = schema[name]
        out[name] = attribute_values(out[name], ts.primary_key or "", tables, attributes, ts.implicit_from)
        apply_attributes(schema, name, out[name], attributes, evidence, where)
        entry = overrides.tables.get(name)
        for column in ts.columns if entry is not None else []:
            if column.name in entry.stypes and column.stype is not SType.KEY and column.name != FIRST_SEEN:
                column.stype, column.evidence = entry.stypes[column.name], f"{where}"
    return out


def _given_attributes(overrides: SchemaOverrides, made: dict[str, list[tuple[str, str]]], where: str) -> dict[str, list[str]]:
    """Attributes a schema file states per made table (``false``: none), each naming a made table."""
    out: dict[str, list[str]] = {}
    for name, entry in overrides.tables.items():
        if entry.attributes is None:
            continue
        if name not in made:
            known = ", ".join(made) or "none"
            raise SchemaError(
                f"{where}: tables.{name}.attributes: {name} is no table relgraph makes (made tables: {known}); "
                "attributes belong to implicit tables"
            )
        out[name] = [] if entry.attributes is False else list(entry.attributes)
    return out


#: Share of an implicit table's ids found in another table's key above which it may be a reference.
LOOKALIKE_COVERAGE = 0.95


def _lookalike(schema: Schema, tables: dict[str, pa.Table], ids: pa.ChunkedArray, sources: list[str]) -> str:
    """A hint when the ids are (nearly) all values of an existing key under another name
    (``matches.winner_id`` in ``players.player_id``): a reference the name did not reveal."""
    for name, ts in schema.tables.items():
        if ts.primary_key is None or ts.implicit_from or name not in tables:
            continue
        key = tables[name].column(ts.primary_key)
        if is_stringlike(key.type) != is_stringlike(ids.type) or len(ids) == 0:
            continue
        found = pc.sum(pc.is_in(ids, value_set=key.combine_chunks())).as_py() or 0
        if found / len(ids) >= LOOKALIKE_COVERAGE:
            column = sources[0].split(".", 1)[1] if len(sources) == 1 else "<column>"
            table = sources[0].split(".", 1)[0]
            return (
                f"; {found / len(ids):.0%} of them are {name}.{ts.primary_key} values: if they reference {name}, "
                f'declare foreign_keys = [{{ column = "{column}", references = "{name}.{ts.primary_key}" }}] '
                f"under tables.{table}"
            )
    return ""


def _check_file_entry(overrides: SchemaOverrides, name: str, key: str, timed: bool, where: str) -> None:
    """A file entry of an implicit table may restate (as ``write_schema`` writes it) but not change it."""
    entry = overrides.tables.get(name)
    if entry is None:
        return
    what = f"{where}: tables.{name}"
    if entry.primary_key is not None and entry.primary_key != key:
        raise SchemaError(f"{what}.primary_key: an implicit table's key is its values column {key!r}; remove it")
    if entry.time is not None and (entry.time.column != (FIRST_SEEN if timed else None) or entry.time.inherit_via):
        raise SchemaError(
            f"{what}.time: an implicit table's time is {FIRST_SEEN!r} (or none when a source is static); remove it"
        )
    if entry.foreign_keys:
        raise SchemaError(f"{what}.foreign_keys: an implicit table has no foreign keys; remove them")
    attributes = {a.rsplit(".", 1)[-1] for a in entry.attributes or []}
    for column, stype in entry.stypes.items():
        if column in attributes:
            continue
        if column != FIRST_SEEN or stype not in (SType.TIMESTAMP, SType.IGNORED):
            raise SchemaError(
                f"{what}.stypes.{column}: an implicit table's non-key columns are {FIRST_SEEN} and its attributes"
            )


def entity_schema(name: str, data: pa.Table, key: str, sources: list[str], timed: bool, origin: str) -> TableSchema:
    how = "" if origin == "inferred" else f" ({origin})"
    columns = [Column(key, str(data.schema.field(key).type), SType.KEY, f"primary key: each distinct value of {', '.join(sources)}")]
    time = None
    if timed:
        columns.append(Column(FIRST_SEEN, "timestamp[ns]", SType.TIMESTAMP, "the row time: the value's first appearance"))
        time = TimeInfo(FIRST_SEEN, inferred=origin == "inferred", evidence=f"first appearance in {', '.join(sources)}")
    return TableSchema(
        name=name,
        rows=data.num_rows,
        columns=columns,
        primary_key=key,
        primary_key_inferred=origin == "inferred",
        primary_key_evidence=f"each distinct value of {', '.join(sources)}, which no table lists{how}",
        time=time,
        time_evidence="" if timed else "a source table is static, so its ids always exist",
        implicit_from=list(sources),
    )


def link_entity(child: TableSchema, column: str, name: str, key: str, origin: str) -> None:
    """``child.column`` becomes a foreign key to the implicit table (a key, no longer a feature)."""
    child.foreign_keys.append(
        ForeignKey(column, name, key, origin == "inferred", 1.0, f"ids without a table of their own: relgraph makes table {name}"
                   + ("" if origin == "inferred" else f" ({origin})"))
    )
    col = child.column(column)
    col.stype, col.evidence = SType.KEY, f"foreign key to {name}.{key} (a table relgraph makes)"


def entity_table(
    tables: dict[str, pa.Table],
    row_times: dict[str, np.ndarray],
    pairs: list[tuple[str, str]],
    key: str,
    timed: bool,
) -> pa.Table:
    """One row per distinct non-null value of the ``(table, column)`` sources, sorted by value;
    ``first_seen`` (when ``timed``) is the earliest row time of the value's rows (null when none is known)."""
    keys = pa.chunked_array([c for t, c in pairs for c in _key_values(tables[t].column(c)).chunks])
    if not timed:
        values = pc.unique(keys.drop_null())
        return pa.table({key: pc.take(values, pc.sort_indices(values))})
    times = np.concatenate([row_times[t] for t, _ in pairs]).astype("datetime64[ns]")
    frame = pa.table({"k": keys, "t": pa.array(times, type=pa.timestamp("ns"), from_pandas=True)})
    frame = frame.filter(pc.is_valid(frame["k"]))
    grouped = frame.group_by("k").aggregate([("t", "min")]).sort_by("k")
    return pa.table({key: grouped["k"], FIRST_SEEN: grouped["t_min"]})


def materialise(tables: dict[str, pa.Table], schema: Schema) -> dict[str, pa.Table]:
    """``tables`` plus the schema's implicit tables that it lacks (same data as at inference).

    Used by the Database: a schema (inferred, or read from a run's schema file) names implicit
    tables, the source holds only their source columns.
    """
    missing = [name for name, ts in schema.tables.items() if ts.implicit_from and name not in tables]
    if not missing:
        return tables
    own = Schema({n: ts for n, ts in schema.tables.items() if not ts.implicit_from}, [])
    row_times = resolve_row_times(tables, own)
    out = dict(tables)
    for name in missing:
        ts = schema[name]
        pairs = [_split(s, tables, f"implicit table {name}") for s in ts.implicit_from]
        key = ts.primary_key or _sources_key(ts.implicit_from)
        out[name] = entity_table(tables, row_times, pairs, key, ts.time is not None)
        if ts.attributes:
            out[name] = attribute_values(out[name], key, tables, ts.attributes, ts.implicit_from)
    return out
