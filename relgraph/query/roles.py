"""Roles: the foreign-key paths through which an aggregated table's rows name the entity.

An event table can name the entity in several roles: ``matches(winner_id, loser_id)`` both
reference ``players``, ``flights(origin, dest)`` both reference ``airports``. A row belongs to an
entity through a path of foreign-key hops from the aggregated table up to the entity table.

- Default: every shortest path is a role, and a row belongs to each entity any of them names,
  once per entity (a self-match with winner = loser counts once). A role column that the
  aggregate itself reads names the other party, not the entity (``LIST_DISTINCT(transfers.to_id)
  FOR EACH accounts`` ranks the accounts one sends to), so it is left out when others remain.
- ``VIA [table.]column`` (:class:`relgraph.query.ast.Role`): the shortest paths through that
  foreign key only (any path length, so a longer route can be chosen too).
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from relgraph.errors import QueryError
from relgraph.query.ast import Aggregate
from relgraph.schema.model import Schema


@dataclass(frozen=True)
class Hop:
    """One foreign-key step: ``child.fk_column`` references ``parent.parent_column``."""

    child: str
    fk_column: str
    parent: str
    parent_column: str

    def __str__(self) -> str:
        return f"{self.child}.{self.fk_column}"


Path = tuple[Hop, ...]
#: How many hops longer than the shortest path a ``VIA`` path may be.
VIA_EXTRA_HOPS = 3


def describe_path(path: Path) -> str:
    """``bets.match_id -> matches.winner_id``: the foreign keys a path follows."""
    return " -> ".join(str(hop) for hop in path)


def describe_roles(paths: tuple[Path, ...]) -> str:
    """The roles of an aggregate in one phrase, for ``--explain`` and messages."""
    if len(paths) == 1:
        return f"via {describe_path(paths[0])}"
    return "via " + " or ".join(describe_path(p) for p in paths) + " (a row naming it in several roles counts once)"


def distinguishing_hops(paths: tuple[Path, ...]) -> list[Hop]:
    """Per path, its first hop that not every path shares (the one a ``VIA`` would name)."""
    shared = set.intersection(*(set(p) for p in paths)) if len(paths) > 1 else set()
    return [next((h for h in p if h not in shared), p[-1]) for p in paths]


def reaches(schema: Schema, table: str, entity: str) -> bool:
    """Whether any foreign-key path leads from ``table`` to ``entity`` (linear, for messages)."""
    seen, stack = {table}, [table]
    while stack:
        for fk in schema[stack.pop()].foreign_keys:
            if fk.references_table == entity:
                return True
            if fk.references_table in schema and fk.references_table not in seen:
                seen.add(fk.references_table)
                stack.append(fk.references_table)
    return False


def shortest_paths(
    schema: Schema,
    table: str,
    entity: str,
    accept: Callable[[Path], bool] = lambda path: True,
    skip: Callable[[Hop], bool] = lambda hop: False,
    max_hops: int | None = None,
) -> list[Path]:
    """Every shortest simple foreign-key path (1 to ``max_hops`` hops, default: any) from
    ``table`` to ``entity`` that ``accept`` takes, never through a hop ``skip`` rejects."""
    found: list[Path] = []
    queue: deque[tuple[str, Path]] = deque([(table, ())])
    max_hops = len(schema.table_names) if max_hops is None else max_hops
    while queue:
        current, path = queue.popleft()
        if (found and len(path) >= len(found[0])) or len(path) >= max_hops:
            break
        for fk in schema[current].foreign_keys:
            parent = fk.references_table
            if parent not in schema or any(h.child == parent for h in path):
                continue
            hop = Hop(current, fk.column, parent, fk.references_column)
            if skip(hop):
                continue
            if parent == entity:
                if accept((*path, hop)):
                    found.append((*path, hop))
            elif parent != table:
                queue.append((parent, (*path, hop)))
    return found


def _same_entity_column(paths: list[Path], entity_key: str) -> tuple[Path, ...]:
    # Roles are compared by key value: keep the paths that end on one column of the entity.
    column = entity_key if any(p[-1].parent_column == entity_key for p in paths) else paths[0][-1].parent_column
    return tuple(p for p in paths if p[-1].parent_column == column)


def role_paths(schema: Schema, agg: Aggregate, entity: str, entity_key: str, context: str) -> tuple[Path, ...]:
    """The paths through which ``agg``'s rows name the entity (its default roles or its ``VIA``).

    Raises:
        QueryError: ``VIA`` names no foreign key on a path to the entity (the message lists the
            roles), or a bare column name that several tables' paths have.
    """
    table = agg.column.table
    default = shortest_paths(schema, table, entity)
    if not default:
        return ()
    if agg.via is None:
        read = agg.column.column
        others = shortest_paths(schema, table, entity, skip=lambda h: h.child == table and h.fk_column == read)
        return _same_entity_column(others or default, entity_key)
    via = agg.via

    def named(hop: Hop) -> bool:
        return hop.fk_column == via.column and via.table in (None, hop.child)

    # A role on a longer path than the shortest is a choice too (comments on one's posts), within reason.
    chosen = []
    if any(fk.column == via.column and via.table in (None, child) for child, fk in schema.edges()):
        longest = len(default[0]) + VIA_EXTRA_HOPS
        chosen = shortest_paths(schema, table, entity, accept=lambda path: any(named(h) for h in path), max_hops=longest)
    if not chosen:
        roles = list(dict.fromkeys(str(h) for p in default for h in p))
        close = difflib.get_close_matches(
            str(via), roles + [h.fk_column for p in default for h in p], n=1, cutoff=0.6
        )
        hint = f"; did you mean VIA {close[0]}?" if close else ""
        raise QueryError(
            f"{context}: VIA {via} in {agg} is not a foreign key on a path from {table} to {entity}; "
            f"its roles: {', '.join(roles)}{hint}"
        )
    tables = sorted({h.child for p in chosen for h in p if named(h)})
    if len(tables) > 1:
        raise QueryError(
            f"{context}: VIA {via} in {agg} is a column of {' and of '.join(tables)}; "
            f"write VIA {tables[0]}.{via.column} (table.column)"
        )
    return _same_entity_column(chosen, entity_key)


def single_role(paths: tuple[Path, ...], agg: Aggregate, context: str) -> None:
    """Ranking reads one role at a time: raise when ``agg`` has several."""
    if len(paths) > 1:
        options = ", ".join(f"VIA {hop}" for hop in distinguishing_hops(paths))
        raise QueryError(
            f"{context}: {agg} ranks for one role at a time, and {agg.column.table} names the entity in "
            f"several ({' or '.join(describe_path(p) for p in paths)}); choose one: {options}"
        )

