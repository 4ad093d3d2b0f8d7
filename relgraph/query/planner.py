"""Plan a validated query as one DuckDB SQL statement over ``db.duckdb()``.

Shape of the statement (``t`` = prediction time, one row per requested timestamp)::

    WITH ts AS (distinct timestamps),
         g0 AS (aggregates of one (table, window) pair per (entity key, t):
                table rows joined up their foreign-key path, range-joined to
                t + start < __rg_time <= t + end, grouped),
         ...
    SELECT entity key, t AS timestamp, label
    FROM entity rows existing at t (x every t, or the rows of a group the filters require)
    LEFT JOIN g0 ... WHERE <WHERE> AND <ASSUMING> AND label IS NOT NULL

Every identifier is double-quoted and every literal and window bound is a ``$pN`` parameter,
so nothing in the query text reaches SQL as code. Comparisons are two-valued: a comparison
involving NULL is false (``COALESCE(cmp, FALSE)``), so NOT of it is true.

The statement is written once, in DuckDB's dialect; the Spark engine runs the same statement
translated by sqlglot (:mod:`relgraph.engines.spark_engine`), so constructs are chosen to mean
the same on both (e.g. FIRST / LAST skip NULL values explicitly, as DuckDB's ``arg_min`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from relgraph.database import TIME_COLUMN
from relgraph.query.ast import (
    Aggregate,
    And,
    ColumnRef,
    Comparison,
    Condition,
    IsNull,
    Not,
    Operand,
    Or,
    Query,
    Rank,
    Window,
)
from relgraph.query.roles import Path, describe_roles
from relgraph.query.validator import ResolvedQuery, validate
from relgraph.schema.model import Schema

#: Name under which the timestamps relation appears in explained SQL.
TIMESTAMPS_RELATION = "__rg_timestamps"

_INTERVAL_FUNCTIONS = {
    "minutes": ("to_minutes", "BIGINT"),
    "hours": ("to_hours", "BIGINT"),
    "days": ("to_days", "INTEGER"),
    "weeks": ("to_weeks", "INTEGER"),
    "months": ("to_months", "INTEGER"),
    "years": ("to_years", "INTEGER"),
}
#: Value of each aggregate over an empty window (None: NULL).
_EMPTY_VALUE = {"COUNT": 0, "COUNT_DISTINCT": 0, "SUM": 0}


def quote(name: str) -> str:
    """A SQL identifier, double-quoted with embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class SqlPlan:
    """One SQL statement, its named parameters, and the relation it reads timestamps from.

    The timestamps relation must have one TIMESTAMP column ``ts``.
    """

    sql: str
    params: dict[str, object]
    timestamps_relation: str
    resolved: ResolvedQuery

    def explain(self) -> str:
        """The roles, the SQL, then one comment line per parameter value."""
        lines = [f"-- {line}" for line in roles_lines(self.resolved)]
        lines += [self.sql.rstrip(), "-- parameters:"]
        lines += [f"--   ${name} = {value!r}" for name, value in self.params.items()]
        return "\n".join(lines)


def roles_lines(resolved: ResolvedQuery) -> list[str]:
    """One line per aggregated table and roles: the foreign keys through which its rows name the entity."""
    routes = dict.fromkeys((agg.column.table, paths) for agg, paths in resolved.routes.items())
    return [
        f"roles: {table} rows belong to the {resolved.entity_table} row they name {describe_roles(paths)}"
        for table, paths in routes
    ]


def plan(
    schema: Schema, query: Query | ResolvedQuery, timestamps_relation: str = TIMESTAMPS_RELATION
) -> SqlPlan:
    """Validate (if needed) and plan ``query`` as SQL reading timestamps from ``timestamps_relation``."""
    resolved = query if isinstance(query, ResolvedQuery) else validate(query, schema)
    return _Planner(resolved, timestamps_relation).build()


def plan_sql(db: object, query: Query | str) -> str:
    """The SQL (with parameter values as comments) that :func:`make_training_table` runs, for ``--explain``."""
    from relgraph.query.parser import parse

    parsed = parse(query) if isinstance(query, str) else query
    return plan(db.schema, parsed).explain()  # type: ignore[attr-defined]


@dataclass
class _Group:
    """Aggregates sharing one (table, window): one range join, one GROUP BY."""

    alias: str
    table: str
    window: Window
    paths: tuple[Path, ...]
    aggregates: list[Aggregate]


class _Planner:
    def __init__(self, resolved: ResolvedQuery, timestamps_relation: str) -> None:
        self.resolved = resolved
        self.query = resolved.query
        self.timestamps_relation = timestamps_relation
        self.params: dict[str, object] = {}
        self.groups: list[_Group] = []
        self.agg_column: dict[Aggregate, tuple[_Group, str]] = {}

    def bind(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    # -- aggregates ----------------------------------------------------------------------
    def collect(self) -> None:
        for agg in self.query.aggregates():
            if agg in self.agg_column:
                continue
            paths = self.resolved.routes[agg]
            group = next(
                (
                    g
                    for g in self.groups
                    if g.table == agg.column.table and g.window == agg.window and g.paths == paths
                ),
                None,
            )
            if group is None:
                group = _Group(f"__rg_g{len(self.groups)}", agg.column.table, agg.window, paths, [])
                self.groups.append(group)
            group.aggregates.append(agg)
            self.agg_column[agg] = (group, f"a{len(group.aggregates) - 1}")

    def aggregate_sql(self, agg: Aggregate) -> str:
        column = None if agg.column.column is None else f"s.{quote(agg.column.column)}"
        filters = [] if agg.where is None else [self.condition_sql(agg.where, self.row_operand)]
        func = agg.func
        if func == "COUNT":
            expr = "COUNT(*)" if column is None else f"COUNT({column})"
        elif func == "COUNT_DISTINCT":
            expr = f"COUNT(DISTINCT {column})"
        elif func in ("SUM", "AVG", "MIN", "MAX"):
            expr = f"{func}({column})"
        elif func in ("FIRST", "LAST"):
            order = f"s.{quote(TIME_COLUMN)}"
            pk = self.resolved.primary_keys.get(agg.column.table)
            if pk is not None:
                # Rows at the same time: the primary key decides, so FIRST/LAST are deterministic.
                order = f"struct_pack(t := {order}, k := s.{quote(pk)})"
            expr = f"{'arg_min' if func == 'FIRST' else 'arg_max'}({column}, {order})"
            # DuckDB's arg_min skips NULL values; Spark's min_by would not: say it in the SQL.
            filters.append(f"{column} IS NOT NULL")
        else:  # LIST_DISTINCT
            filters.append(f"{column} IS NOT NULL")
            expr = f"list(DISTINCT {column} ORDER BY {column})"
        if filters:
            expr += " FILTER (WHERE " + " AND ".join(filters) + ")"
        return expr

    def window_bound(self, amount: int, unit: str) -> str:
        function, sql_type = _INTERVAL_FUNCTIONS[unit]
        return f'w."t" + {function}(CAST({self.bind(amount)} AS {sql_type}))'

    def group_cte(self, group: _Group) -> str:
        joins, keys = _path_joins(group.paths)
        key, role_join, key_filter = keys[0], "", f"{keys[0]} IS NOT NULL"
        if len(keys) > 1:
            # One row per (row, role); a role naming the same entity as an earlier one is dropped,
            # so a row counts once per entity it names (a self-match: once).
            role = '"__rg_role"."i"'
            values = ", ".join(f"({i})" for i in range(len(keys)))
            role_join = f'\n  CROSS JOIN (VALUES {values}) AS "__rg_role"("i")'
            key = "CASE " + role + " " + " ".join(f"WHEN {i} THEN {k}" for i, k in enumerate(keys)) + " END"
            key_filter = "(" + " OR ".join(
                "("
                + " AND ".join(
                    [f"{role} = {i}", f"{k} IS NOT NULL"]
                    + [f"COALESCE({k} <> {earlier}, TRUE)" for earlier in keys[:i]]
                )
                + ")"
                for i, k in enumerate(keys)
            ) + ")"
        lo = self.window_bound(group.window.start, group.window.unit)
        hi = self.window_bound(group.window.end, group.window.unit)
        columns = ",\n    ".join(
            f"{self.aggregate_sql(agg)} AS {quote(self.agg_column[agg][1])}" for agg in group.aggregates
        )
        time = f"s.{quote(TIME_COLUMN)}"
        join_text = "".join(f"\n  {j}" for j in joins)
        return (
            f"{quote(group.alias)} AS (\n"
            f'  SELECT {key} AS "__rg_key", w."t" AS "__rg_t",\n    {columns}\n'
            f'  FROM (SELECT "t", {lo} AS "lo", {hi} AS "hi" FROM "__rg_ts" w) w\n'
            f'  JOIN {quote(group.table)} s ON {time} > w."lo" AND {time} <= w."hi"{join_text}{role_join}\n'
            f"  WHERE {key_filter}\n"
            "  GROUP BY ALL\n)"
        )

    # -- conditions ----------------------------------------------------------------------
    def row_operand(self, operand: Operand) -> str:
        assert isinstance(operand, ColumnRef) and operand.column is not None
        return f"s.{quote(operand.column)}"

    def entity_operand(self, operand: Operand) -> str:
        if isinstance(operand, Aggregate):
            group, column = self.agg_column[operand]
            expr = f"{quote(group.alias)}.{quote(column)}"
            empty = _EMPTY_VALUE.get(operand.func)
            return expr if empty is None else f"COALESCE({expr}, {empty})"
        assert operand.column is not None
        return f"e.{quote(operand.column)}"

    def literal_sql(self, operand: Operand, value: object) -> str:
        ref = operand.column if isinstance(operand, Aggregate) else operand
        if (ref.table, ref.column) in self.resolved.timestamp_columns and isinstance(value, str):
            return f"CAST({self.bind(pd.Timestamp(value).to_pydatetime())} AS TIMESTAMP)"
        return self.bind(value)

    def condition_sql(self, cond: Condition, operand_sql: Callable[[Operand], str]) -> str:
        if isinstance(cond, And):
            return "(" + " AND ".join(self.condition_sql(c, operand_sql) for c in cond.items) + ")"
        if isinstance(cond, Or):
            return "(" + " OR ".join(self.condition_sql(c, operand_sql) for c in cond.items) + ")"
        if isinstance(cond, Not):
            return f"(NOT {self.condition_sql(cond.item, operand_sql)})"
        if isinstance(cond, IsNull):
            return f"({operand_sql(cond.operand)} IS {'NOT ' if cond.negated else ''}NULL)"
        if cond.right.value is None:
            return "FALSE"  # a comparison with NULL is false
        left = operand_sql(cond.left)
        return f"COALESCE(({left} {cond.op} {self.literal_sql(cond.left, cond.right.value)}), FALSE)"

    # -- statement -----------------------------------------------------------------------
    def label_sql(self) -> str:
        target = self.query.target
        if isinstance(target, (Comparison, IsNull, And, Or, Not)):
            return f"CAST({self.condition_sql(target, self.entity_operand)} AS BIGINT)"
        if isinstance(target, Rank):
            return self.entity_operand(target.aggregate)
        expr = self.entity_operand(target)
        if self.resolved.task_type == "regression":
            return f"CAST({expr} AS DOUBLE)"
        return expr

    def driving_group(self) -> _Group | None:
        """A group whose rows every output row needs (filters false when it is empty), if any."""
        conditions: list[Condition] = [c for c in (self.query.where, self.query.assuming) if c is not None]
        target = self.query.target
        label_operand = target.aggregate if isinstance(target, Rank) else target
        for group in self.groups:
            if any(_false_when_empty(c, group) is False for c in conditions):
                return group
            if isinstance(label_operand, Aggregate) and self.agg_column[label_operand][0] is group:
                if _EMPTY_VALUE.get(label_operand.func) is None:
                    return group  # the label is NULL, so the row dropped, when the window is empty
        return None

    def build(self) -> SqlPlan:
        self.collect()
        resolved = self.resolved
        ctes = [
            f'"__rg_ts" AS (SELECT DISTINCT CAST("ts" AS TIMESTAMP_NS) AS "t" FROM {quote(self.timestamps_relation)})'
        ]
        ctes += [self.group_cte(group) for group in self.groups]
        key = f"e.{quote(resolved.entity_key)}"
        where = [f"{key} IS NOT NULL"]
        driver = self.driving_group()
        if driver is None:
            source = f'{quote(resolved.entity_table)} e CROSS JOIN "__rg_ts" ts'
            time = 'ts."t"'
        else:
            # Only (entity, t) pairs with rows in this group can pass the filters: start from them.
            source = (
                f"{quote(driver.alias)} JOIN {quote(resolved.entity_table)} e "
                f'ON e.{self.entity_join_column(driver)} = {quote(driver.alias)}."__rg_key"'
            )
            time = f'{quote(driver.alias)}."__rg_t"'
        if resolved.entity_timed:
            where.append(f"e.{quote(TIME_COLUMN)} <= {time}")  # the entity exists at t
        joins = [
            f'LEFT JOIN {quote(g.alias)} ON {quote(g.alias)}."__rg_key" = e.{self.entity_join_column(g)} '
            f'AND {quote(g.alias)}."__rg_t" = {time}'
            for g in self.groups
            if g is not driver
        ]
        for cond in (self.query.where, self.query.assuming):
            if cond is not None:
                where.append(self.condition_sql(cond, self.entity_operand))
        label = self.label_sql()
        select = f'SELECT {key} AS {quote(resolved.entity_key)}, {time} AS "timestamp", {label} AS "label"'
        body = "\n".join([select, f"FROM {source}", *joins])
        sql = (
            "WITH " + ",\n".join(ctes) + "\n"
            f"SELECT * FROM (\n{body}\nWHERE " + "\n  AND ".join(where) + "\n) q\n"
            'WHERE "label" IS NOT NULL\n'
            f'ORDER BY "timestamp", {quote(resolved.entity_key)}'
        )
        return SqlPlan(sql, self.params, self.timestamps_relation, resolved)

    def entity_join_column(self, group: _Group) -> str:
        return quote(group.paths[0][-1].parent_column)


def _path_joins(paths: tuple[Path, ...]) -> tuple[list[str], list[str]]:
    """Joins up the paths' hops (shared prefixes joined once) and each path's entity key expression.

    One path joins its parents with inner joins; several with left joins, so a row one path
    cannot follow still belongs to the entities the others name.
    """
    joins: list[str] = []
    keys: list[str] = []
    aliases: dict[Path, str] = {}
    join = "JOIN" if len(paths) == 1 else "LEFT JOIN"
    for path in paths:
        source_alias = "s"
        for i, hop in enumerate(path[:-1]):
            prefix = path[: i + 1]
            if prefix not in aliases:
                aliases[prefix] = f"h{len(aliases)}"
                joins.append(
                    f"{join} {quote(hop.parent)} {aliases[prefix]} "
                    f"ON {source_alias}.{quote(hop.fk_column)} = {aliases[prefix]}.{quote(hop.parent_column)}"
                )
            source_alias = aliases[prefix]
        keys.append(f"{source_alias}.{quote(path[-1].fk_column)}")
    return joins, keys


def _false_when_empty(cond: Condition, group: _Group) -> bool | None:
    """The condition's value when ``group`` has no rows (None: depends on other things)."""
    if isinstance(cond, And):
        values = [_false_when_empty(c, group) for c in cond.items]
        return False if False in values else (True if all(v is True for v in values) else None)
    if isinstance(cond, Or):
        values = [_false_when_empty(c, group) for c in cond.items]
        return True if True in values else (False if all(v is False for v in values) else None)
    if isinstance(cond, Not):
        inner = _false_when_empty(cond.item, group)
        return None if inner is None else not inner
    operand = cond.left if isinstance(cond, Comparison) else cond.operand
    if not (isinstance(operand, Aggregate) and operand in group.aggregates):
        return None
    empty = _EMPTY_VALUE.get(operand.func)
    if isinstance(cond, IsNull):
        return (empty is None) != cond.negated
    value = cond.right.value
    if empty is None or value is None:
        return False
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return {
        "=": empty == value,
        "!=": empty != value,
        "<": empty < value,
        "<=": empty <= value,
        ">": empty > value,
        ">=": empty >= value,
    }[cond.op]
