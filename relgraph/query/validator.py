"""Check a parsed query against a schema and resolve what the planner needs.

``validate(query, schema) -> ResolvedQuery``: tables and columns exist (with close-name
suggestions), the entity column is the primary key, every aggregated table is timed and
reaches the entity table through foreign keys, types fit the aggregates and literals,
windows are non-empty, WHERE only looks at the past, LIST_DISTINCT only ranks.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from dataclasses import dataclass, field

import pandas as pd

from relgraph.errors import QueryError
from relgraph.query.ast import (
    COUNTING_AGGREGATES,
    NUMERIC_AGGREGATES,
    Aggregate,
    And,
    ColumnRef,
    Comparison,
    Condition,
    IsNull,
    Literal,
    Not,
    Operand,
    Or,
    Query,
    Rank,
)
from relgraph.query.roles import Hop, Path, reaches, role_paths, single_role
from relgraph.schema.model import Column, Schema, SType

log = logging.getLogger(__name__)

#: Output columns of a training table besides the entity key.
RESERVED_OUTPUT_COLUMNS = ("timestamp", "label")
#: Prefix of the relations the planner creates (CTEs, timestamps).
RESERVED_PREFIX = "__rg_"


@dataclass(frozen=True)
class ResolvedQuery:
    """A query that passed validation, plus what the planner reads from the schema.

    ``routes[aggregate]``: the foreign-key paths (hops up to the entity table) through which
    the aggregate's rows name the entity: its roles (:mod:`relgraph.query.roles`).
    ``paths[table]``: the first of them for each aggregated table.
    ``primary_keys[table]``: each aggregated table's primary key (None: none; FIRST/LAST
    then break time ties by nothing). ``timestamp_columns``: ``(table, column)`` pairs of
    timestamp type, whose literals are bound as timestamps.
    """

    query: Query
    task_type: str
    entity_table: str
    entity_key: str
    entity_timed: bool
    paths: dict[str, tuple[Hop, ...]]
    primary_keys: dict[str, str | None]
    timestamp_columns: frozenset[tuple[str, str]]
    target_table: str | None = None
    k: int | None = None
    routes: dict[Aggregate, tuple[Path, ...]] = field(default_factory=dict)


def validate(query: Query, schema: Schema) -> ResolvedQuery:
    """Check ``query`` against ``schema``; raise :class:`QueryError` with one actionable line.

    ``FOR EACH child.fk_column`` means the entities that column references (``FOR EACH
    ratings.userId`` -> the ``userId`` table relgraph makes when no users table exists):
    ``ResolvedQuery.query`` names the referenced table and key.
    """
    return _Validator(resolve_entity(query, schema), schema).run()


def resolve_entity(query: Query, schema: Schema) -> Query:
    """``query`` with ``FOR EACH child.fk_column`` replaced by the referenced ``table.key``;
    unchanged when the entity column is its table's primary key or no foreign key."""
    table = schema.tables.get(query.entity_table)
    if table is None or query.entity_key == table.primary_key:
        return query
    fk = next((f for f in table.foreign_keys if f.column == query.entity_key), None)
    if fk is None or fk.references_table not in schema:
        return query
    log.debug("FOR EACH %s: the entities it references, %s.%s", query.entity, fk.references_table, fk.references_column)
    return dataclasses.replace(query, entity=ColumnRef(fk.references_table, fk.references_column))


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(close) + "?"
    return "known: " + ", ".join(options[:20]) + (" ..." if len(options) > 20 else "")


def _is_number_type(column: Column) -> bool:
    return column.dtype.lower().startswith(("int", "uint", "float", "double", "decimal", "halffloat"))


def _is_epoch(column: Column) -> bool:
    """Numbers the schema reads as Unix-epoch times (the DuckDB views hold them as timestamps)."""
    return column.stype == SType.TIMESTAMP and _is_number_type(column)


def _is_numeric(column: Column) -> bool:
    return _is_number_type(column) and not _is_epoch(column)


def _is_bool(column: Column) -> bool:
    return column.dtype.lower() in ("bool", "boolean")


def _is_temporal(column: Column) -> bool:
    return column.dtype.lower().startswith(("timestamp", "date")) or _is_epoch(column)


class _Validator:
    def __init__(self, query: Query, schema: Schema) -> None:
        self.query = query
        self.schema = schema
        self.paths: dict[str, Path] = {}
        self.routes: dict[Aggregate, tuple[Path, ...]] = {}
        self.timestamp_columns: set[tuple[str, str]] = set()

    def run(self) -> ResolvedQuery:
        query = self.query
        entity_table = self.table(query.entity_table)
        entity_key = query.entity_key
        self.column(entity_table, entity_key)
        pk = self.schema[entity_table].primary_key
        composite = self.schema[entity_table].composite_key
        if composite:  # one entity per row needs a one-column key; several rows share each part
            raise QueryError(
                f"FOR EACH {query.entity}: {entity_table} is keyed by ({', '.join(composite)}), a composite key; "
                "queries need a table with a one-column key (add a surrogate key column to predict per row)"
            )
        if pk is not None and pk != entity_key:  # entity_database makes it a table before validation
            raise QueryError(
                f"FOR EACH {query.entity}: the primary key of {entity_table} is {pk}; write FOR EACH "
                f"{entity_table}.{pk}, or predict per distinct {entity_key} value on "
                "relgraph.query.entity_database(db, query) (as build_task and relgraph.train do)"
            )
        if entity_key in RESERVED_OUTPUT_COLUMNS:
            raise QueryError(
                f"entity key {entity_table}.{entity_key} clashes with the training table column "
                f"'{entity_key}'; rename it in a schema file"
            )
        target = query.target
        if isinstance(target, Rank):
            self.aggregate(target.aggregate, context="target", allow_list=True)
        elif isinstance(target, (Comparison, IsNull, And, Or, Not)):
            self.condition(target, context="target")
        elif isinstance(target, Aggregate):
            self.aggregate(target, context="target")
        else:
            self.entity_column(target, context="target")
        for cond, context in ((query.where, "WHERE"), (query.assuming, "ASSUMING")):
            if cond is not None:
                self.condition(cond, context)
        target_table, k = None, None
        if isinstance(target, Rank):
            column = target.aggregate.column
            assert column.column is not None
            fk = next(f for f in self.schema[column.table].foreign_keys if f.column == column.column)
            target_table, k = fk.references_table, target.k
        return ResolvedQuery(
            query=query,
            task_type=self.task_type(),
            entity_table=entity_table,
            entity_key=entity_key,
            entity_timed=self.schema[entity_table].time is not None,
            paths=dict(self.paths),
            primary_keys={table: self.schema[table].primary_key for table in self.paths},
            timestamp_columns=frozenset(self.timestamp_columns),
            target_table=target_table,
            k=k,
            routes=dict(self.routes),
        )

    # -- names ---------------------------------------------------------------------------
    def table(self, name: str) -> str:
        if name.startswith(RESERVED_PREFIX):
            # The planner's own relations use this prefix; a user table with it would be shadowed.
            raise QueryError(
                f"table '{name}': names starting with {RESERVED_PREFIX} are reserved by relgraph; rename it"
            )
        if name not in self.schema:
            raise QueryError(f"unknown table '{name}': {_suggest(name, self.schema.table_names)}")
        return name

    def column(self, table: str, name: str) -> Column:
        table_schema = self.schema[self.table(table)]
        try:
            return table_schema.column(name)
        except KeyError:
            raise QueryError(
                f"unknown column '{name}' in table '{table}': {_suggest(name, table_schema.column_names)}"
            ) from None

    def entity_column(self, ref: ColumnRef, context: str) -> Column:
        if ref.table != self.query.entity_table:
            self.table(ref.table)
            raise QueryError(
                f"{context}: {ref} is not a column of the entity table {self.query.entity_table}; "
                f"aggregate it instead, e.g. COUNT({ref.table}.*, -30, 0, days)"
            )
        assert ref.column is not None
        return self.column(ref.table, ref.column)

    # -- aggregates ----------------------------------------------------------------------
    def aggregate(self, agg: Aggregate, context: str, allow_list: bool = False) -> None:
        table = self.table(agg.column.table)
        name = agg.column.column
        if agg.func == "LIST_DISTINCT" and not allow_list:
            raise QueryError(
                f"{context}: LIST_DISTINCT can only be a ranking target: PREDICT {agg} RANK TOP k FOR EACH ..."
            )
        if name is None:
            if agg.func != "COUNT":
                raise QueryError(
                    f"{context}: {agg.func}({table}.*) is not defined; name a column, e.g. {agg.func}({table}.<column>)"
                )
        else:
            column = self.column(table, name)
            if agg.func in NUMERIC_AGGREGATES and not _is_numeric(column):
                raise QueryError(
                    f"{context}: {agg.func} needs a numeric column but {table}.{name} is {column.dtype}; "
                    "use COUNT, COUNT_DISTINCT, FIRST or LAST"
                )
            if agg.func == "LIST_DISTINCT" and name not in {
                fk.column for fk in self.schema[table].foreign_keys
            }:
                fks = ", ".join(fk.column for fk in self.schema[table].foreign_keys) or "none"
                raise QueryError(
                    f"{context}: LIST_DISTINCT needs a foreign key column of {table} (the ids to rank); "
                    f"{table}.{name} is not one (foreign keys: {fks})"
                )
        window = agg.window
        if window.end <= window.start:
            raise QueryError(
                f"{context}: empty window in {agg}: end ({window.end}) must be greater than start ({window.start})"
            )
        if context == "WHERE" and window.end > 0:
            raise QueryError(
                f"WHERE looks into the future in {agg}: entity conditions may only use rows up to the "
                f"prediction time (end <= 0); move the condition to ASSUMING or use a window like -{window.end}, 0"
            )
        if self.schema[table].time is None:
            raise QueryError(
                f"{context}: table {table} has no time column, so the window in {agg} is meaningless; "
                "declare its time column in a schema file"
            )
        if self.schema[table].time.unknown:  # its rows are never in a window: labels would all be empty
            raise QueryError(
                f"{context}: table {table} has no trusted row time (its rows are left out), so {agg} would "
                "count nothing; give its time in a schema file"
            )
        if agg.where is not None:
            self.row_condition(agg.where, table, context)
        self.routes[agg] = self.key_paths(agg, context)
        self.paths.setdefault(table, self.routes[agg][0])
        if allow_list:
            single_role(self.routes[agg], agg, context)

    def key_paths(self, agg: Aggregate, context: str) -> tuple[Path, ...]:
        """The foreign-key paths (>= 1 hop each) through which ``agg``'s rows name the entity."""
        table = agg.column.table
        entity = self.query.entity_table
        found = role_paths(self.schema, agg, entity, self.query.entity_key, context)
        if found:
            return found
        if self.schema[entity].primary_key is None:
            key = self.query.entity_key
            raise QueryError(
                f"FOR EACH {self.query.entity}: {entity} has no primary key, so no table reaches it; in a schema "
                f'file, if {key} identifies its rows declare [tables.{entity}] primary_key = "{key}" (and the '
                f'foreign keys to it), if its values repeat declare [tables.{key}] implicit = ["{entity}.{key}"]'
            )
        reachable = [t for t in self.schema.table_names if reaches(self.schema, t, entity)]
        hint = f"tables that reach it: {', '.join(reachable)}" if reachable else "no table references it"
        raise QueryError(f"no foreign-key path from {table} to the entity table {entity}; {hint}")

    # -- conditions ----------------------------------------------------------------------
    def condition(self, cond: Condition, context: str) -> None:
        if isinstance(cond, (And, Or)):
            for item in cond.items:
                self.condition(item, context)
        elif isinstance(cond, Not):
            self.condition(cond.item, context)
        else:
            operand = cond.left if isinstance(cond, Comparison) else cond.operand
            if isinstance(operand, Aggregate):
                self.aggregate(operand, context)
            else:
                self.entity_column(operand, context)
            if isinstance(cond, Comparison):
                self.literal(operand, cond.right, context)

    def row_condition(self, cond: Condition, table: str, context: str) -> None:
        if isinstance(cond, (And, Or)):
            for item in cond.items:
                self.row_condition(item, table, context)
        elif isinstance(cond, Not):
            self.row_condition(cond.item, table, context)
        else:
            operand = cond.left if isinstance(cond, Comparison) else cond.operand
            if isinstance(operand, Aggregate) or operand.table != table or operand.column is None:
                raise QueryError(
                    f"{context}: the row condition of an aggregate over {table} may only compare "
                    f"columns of {table}, found {operand}"
                )
            self.column(table, operand.column)
            if isinstance(cond, Comparison):
                self.literal(operand, cond.right, context)

    def literal(self, operand: Operand, literal: Literal, context: str) -> None:
        value = literal.value
        if value is None:
            return
        kind = self.operand_kind(operand)
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = {
            "number": is_number,
            "bool": isinstance(value, bool),
            "string": isinstance(value, str),
            "timestamp": isinstance(value, str),
        }.get(kind, True)
        if not ok:
            raise QueryError(f"{context}: {operand} is a {kind} and cannot be compared with {literal}")
        if kind == "timestamp":
            try:
                pd.Timestamp(str(value))
            except ValueError:
                raise QueryError(
                    f"{context}: {literal} is not a timestamp (write e.g. '2020-01-31')"
                ) from None
            assert isinstance(operand, (ColumnRef, Aggregate))
            ref = operand.column if isinstance(operand, Aggregate) else operand
            assert ref.column is not None
            self.timestamp_columns.add((ref.table, ref.column))

    def operand_kind(self, operand: Operand) -> str:
        """number | bool | string | timestamp | other: what an operand's values are."""
        if isinstance(operand, Aggregate):
            if operand.func in COUNTING_AGGREGATES or operand.func in ("SUM", "AVG"):
                return "number"
            operand = operand.column
        assert operand.column is not None
        column = self.column(operand.table, operand.column)
        if _is_bool(column):
            return "bool"
        if _is_numeric(column):
            return "number"
        if _is_temporal(column):
            return "timestamp"
        if column.dtype.lower() in ("string", "large_string", "string_view", "utf8", "large_utf8"):
            return "string"
        return "other"

    # -- task type -----------------------------------------------------------------------
    def task_type(self) -> str:
        target = self.query.target
        syntactic = self.query.task_type
        if syntactic != "multiclass":
            return syntactic
        ref = target.column if isinstance(target, Aggregate) else target
        assert isinstance(ref, ColumnRef) and ref.column is not None
        column = self.column(ref.table, ref.column)
        if _is_bool(column):
            return "binary"
        if _is_numeric(column) and column.stype == SType.NUMERICAL:
            return "regression"
        return "multiclass"
