"""PQL abstract syntax tree: frozen dataclasses whose ``str()`` is canonical PQL text.

``parse(str(node)) == node`` for every query node (tested by property tests). Conditions
combine :class:`Comparison` / :class:`IsNull` atoms with :class:`And`, :class:`Or`, :class:`Not`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AGGREGATES = ("COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST", "LIST_DISTINCT")
#: Aggregates whose value is a number whatever the column (COUNT(*) included).
COUNTING_AGGREGATES = ("COUNT", "COUNT_DISTINCT")
#: Aggregates that need a numeric column.
NUMERIC_AGGREGATES = ("SUM", "AVG", "MIN", "MAX")
UNITS = ("minutes", "hours", "days", "weeks", "months", "years")
COMPARISON_OPS = ("=", "!=", "<", "<=", ">", ">=")
#: Bare words that cannot name a table unquoted.
RESERVED = frozenset(
    {
        "PREDICT",
        "FOR",
        "EACH",
        "WHERE",
        "ASSUMING",
        "AND",
        "OR",
        "NOT",
        "RANK",
        "TOP",
        "TRUE",
        "FALSE",
        "NULL",
        "IS",
    }
)

_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def quote_name(name: str) -> str:
    """A table or column name as PQL text: bare when possible, else double-quoted."""
    if _BARE_NAME.match(name) and name.upper() not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ColumnRef:
    """``table.column``; ``column`` is None for ``table.*`` (whole rows, COUNT only)."""

    table: str
    column: str | None

    def __str__(self) -> str:
        return f"{quote_name(self.table)}.{'*' if self.column is None else quote_name(self.column)}"


@dataclass(frozen=True)
class Window:
    """Rows with ``t + start < time <= t + end`` for prediction time ``t``; ``unit`` in :data:`UNITS`."""

    start: int
    end: int
    unit: str

    def __str__(self) -> str:
        return f"{self.start}, {self.end}, {self.unit}"


@dataclass(frozen=True)
class Literal:
    """A number, string, boolean or None (NULL)."""

    value: int | float | str | bool | None

    def __str__(self) -> str:
        value = self.value
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        return repr(value)


@dataclass(frozen=True)
class Role:
    """``VIA [table.]column``: the foreign key through which an aggregate's rows name the entity.

    ``table`` is None when the column is named alone (it is then looked up among the foreign-key
    columns on the paths from the aggregated table to the entity table).
    """

    column: str
    table: str | None = None

    def __str__(self) -> str:
        column = quote_name(self.column)
        return column if self.table is None else f"{quote_name(self.table)}.{column}"


@dataclass(frozen=True)
class Aggregate:
    """``FUNC(table.column [VIA role] [WHERE row condition], start, end, unit)``.

    ``via``: the one role (foreign key) through which the rows belong to the entity; None: every
    role on the shortest key paths (a row naming the entity in several roles counts once).
    """

    func: str
    column: ColumnRef
    window: Window
    where: Condition | None = None
    via: Role | None = None

    def __str__(self) -> str:
        via = f" VIA {self.via}" if self.via is not None else ""
        where = f" WHERE {self.where}" if self.where is not None else ""
        return f"{self.func}({self.column}{via}{where}, {self.window})"


Operand = Aggregate | ColumnRef


@dataclass(frozen=True)
class Comparison:
    """``operand op literal``; a comparison involving NULL is false."""

    left: Operand
    op: str
    right: Literal

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class IsNull:
    """``operand IS [NOT] NULL``."""

    operand: Operand
    negated: bool = False

    def __str__(self) -> str:
        return f"{self.operand} IS {'NOT ' if self.negated else ''}NULL"


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]

    def __str__(self) -> str:
        return " AND ".join(_wrap(item, (And, Or)) for item in self.items)


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]

    def __str__(self) -> str:
        return " OR ".join(_wrap(item, (Or,)) for item in self.items)


@dataclass(frozen=True)
class Not:
    item: Condition

    def __str__(self) -> str:
        return f"NOT {_wrap(self.item, (And, Or))}"


Condition = Comparison | IsNull | And | Or | Not


def _wrap(cond: Condition, needs_parens: tuple[type, ...]) -> str:
    # Parentheses keep the tree shape exactly, so text -> AST -> text is stable.
    return f"({cond})" if isinstance(cond, needs_parens) else str(cond)


@dataclass(frozen=True)
class Rank:
    """``LIST_DISTINCT(table.fk, start, end, unit) RANK TOP k``: a recommendation target."""

    aggregate: Aggregate
    k: int

    def __str__(self) -> str:
        return f"{self.aggregate} RANK TOP {self.k}"


Target = Comparison | IsNull | Aggregate | ColumnRef | Rank | And | Or | Not


@dataclass(frozen=True)
class Query:
    """``PREDICT target FOR EACH entity [WHERE cond] [ASSUMING cond]``."""

    target: Target
    entity: ColumnRef
    where: Condition | None = None
    assuming: Condition | None = None

    def __str__(self) -> str:
        target = f"({self.target})" if isinstance(self.target, (And, Or, Not)) else str(self.target)
        text = f"PREDICT {target} FOR EACH {self.entity}"
        if self.where is not None:
            text += f" WHERE {self.where}"
        if self.assuming is not None:
            text += f" ASSUMING {self.assuming}"
        return text

    def to_text(self) -> str:
        """Canonical PQL text (same as ``str``)."""
        return str(self)

    @property
    def entity_table(self) -> str:
        return self.entity.table

    @property
    def entity_key(self) -> str:
        assert self.entity.column is not None
        return self.entity.column

    @property
    def task_type(self) -> str:
        """``binary | regression | multiclass | ranking`` as the text alone decides it.

        FIRST/LAST and entity-attribute targets read "multiclass" here; :func:`validate`
        refines them to "regression" (numeric column) or "binary" (boolean column).
        """
        target = self.target
        if isinstance(target, Rank):
            return "ranking"
        if isinstance(target, (Comparison, IsNull, And, Or, Not)):
            return "binary"
        if isinstance(target, Aggregate) and target.func not in ("FIRST", "LAST"):
            return "regression"
        return "multiclass"

    def aggregates(self) -> list[Aggregate]:
        """Every windowed aggregate of the query (target, WHERE, ASSUMING), in text order."""
        found: list[Aggregate] = []
        for part in (self.target, self.where, self.assuming):
            if part is not None:
                found.extend(_aggregates_in(part))
        return found


def _aggregates_in(node: Target | Condition) -> list[Aggregate]:
    if isinstance(node, Aggregate):
        return [node]
    if isinstance(node, Rank):
        return [node.aggregate]
    if isinstance(node, Comparison):
        return _aggregates_in(node.left)
    if isinstance(node, IsNull):
        return _aggregates_in(node.operand)
    if isinstance(node, (And, Or)):
        return [agg for item in node.items for agg in _aggregates_in(item)]
    if isinstance(node, Not):
        return _aggregates_in(node.item)
    return []
