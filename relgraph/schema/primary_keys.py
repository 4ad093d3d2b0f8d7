"""Primary keys: declared, file-given (checked against the data) or inferred by name, by the
references pointing into a column, or as a link table's pair of foreign keys (rules in
:mod:`relgraph.schema.keys`)."""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from relgraph.connectors.base import SourceData
from relgraph.errors import SchemaError
from relgraph.schema.io import SchemaOverrides, closest
from relgraph.schema.key_checks import (
    UNIQUE_PROBE_ROWS,
    all_valid,
    describe_first,
    id_prefix,
    is_key_type,
    is_unique,
    is_unique_tuple,
    table_stems,
)
from relgraph.schema.model import ForeignKey, RejectedKey
from relgraph.schema.stypes import distinct_count
from relgraph.schema.times import norm


@dataclass
class Key:
    """A table's primary key: one ``column``, several ``columns`` (composite), or neither."""

    column: str | None
    inferred: bool
    evidence: str
    columns: list[str] | None = None

    @property
    def undecided(self) -> bool:
        """Inference found no key yet (declared and file-given absences are decisions)."""
        return self.inferred and self.column is None and self.columns is None


def primary_keys(data: SourceData, overrides: SchemaOverrides) -> dict[str, Key]:
    declared = data.declared
    # A source declaring foreign keys states its keys fully: tables without a declared key have none.
    fully_declared = any(declared.foreign_keys.values()) or any(declared.composite.foreign_keys.values())
    other_id_names = {
        name: {s + "id" for t in data.tables if t != name for s in table_stems(t)} for name in data.tables
    }
    out: dict[str, Key] = {}
    for name, table in data.tables.items():
        override = overrides.tables.get(name)
        if override is not None and override.primary_key is not None:
            where = f"schema file {overrides.path}"
            if isinstance(override.primary_key, list):
                out[name] = Key(None, False, where, columns=list(override.primary_key))
            else:
                out[name] = Key(override.primary_key or None, False, where)
        elif name in declared.primary_keys:
            column = declared.primary_keys[name]
            if column not in table.column_names:
                raise SchemaError(
                    f"{name}: declared primary key {column!r} is not a column{closest(column, table.column_names)}"
                )
            out[name] = Key(column, False, "declared by the source")
        elif name in declared.composite.primary_keys:
            out[name] = Key(
                None, False, "declared by the source", columns=list(declared.composite.primary_keys[name])
            )
        elif fully_declared:
            out[name] = Key(None, False, "none declared by the source")
        else:
            out[name] = _infer_primary_key(name, table, other_id_names[name])
    return out


def validate_primary_key(table_name: str, column: str, table: pa.Table) -> None:
    """Declared or file-given keys are trusted but must be unique and non-null."""
    values = table.column(column)
    fix = "fix the data or name another key in a schema file"
    if values.null_count:
        raise SchemaError(f"{table_name}.{column}: primary key has {values.null_count} NULL values; {fix}")
    if not is_unique(values):
        distinct = distinct_count(values)
        counts = pc.value_counts(values)
        dupes = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
        raise SchemaError(
            f"{table_name}.{column}: primary key has {table.num_rows - distinct} duplicate values "
            f"(e.g. {describe_first(dupes)}); {fix}"
        )


def _infer_primary_key(name: str, table: pa.Table, other_id_names: set[str]) -> Key:
    stems = table_stems(name)
    best: tuple[int, int, str, str] | None = None  # (score, -position, column, evidence)
    for position, column in enumerate(table.column_names):
        values = table.column(column)
        n = norm(column)
        prefix = id_prefix(column)
        if not is_key_type(values.type) or values.null_count or table.num_rows == 0:
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
        if not is_unique(values):
            continue
        best = (score, -position, column, f"unique, non-null, {why}")
    if best is None:
        return Key(None, True, "no unique, non-null, id-named column")
    return Key(best[2], True, best[3])


def candidate_keys(table: pa.Table) -> list[str]:
    """Unique, non-null integer or string columns: keys if other tables point into them."""
    out = []
    for column in table.column_names:
        values = table.column(column)
        if table.num_rows == 0 or values.null_count or not is_key_type(values.type):
            continue
        probe = values.slice(0, UNIQUE_PROBE_ROWS)
        if is_unique(probe) and is_unique(values):
            out.append(column)
    return out


def choose_referenced_keys(
    primary: dict[str, Key],
    candidates: dict[str, list[str]],
    foreign: dict[str, list[ForeignKey]],
    rejected: list[RejectedKey],
) -> None:
    """A keyless table's candidate column that references point into becomes its key (the most
    referenced one); references into its other candidates are dropped. A table with a key offers
    it first: another candidate replaces it only when more references point there (ties keep it)."""
    incoming: dict[str, list[tuple[str, ForeignKey]]] = {}
    for child, fks in foreign.items():
        for fk in fks:
            if fk.references_table in candidates:
                incoming.setdefault(fk.references_table, []).append((child, fk))
    for parent, refs in incoming.items():
        by_column: dict[str, list[tuple[str, ForeignKey]]] = {}
        for child, fk in refs:
            by_column.setdefault(fk.references_column, []).append((child, fk))
        current = primary[parent].column
        order = ([current] if current is not None else []) + candidates[parent]
        chosen = max(
            by_column,
            key=lambda c: (len(by_column[c]), sum(fk.coverage for _, fk in by_column[c]), -order.index(c)),
        )
        pointing = ", ".join(f"{child}.{fk.column} ({fk.coverage:.1%})" for child, fk in by_column[chosen])
        if chosen != current:
            instead = f"; {current} (no table points into it) is a plain column" if current is not None else ""
            primary[parent] = Key(
                chosen, True, f"unique, non-null, and other tables' values point into it: {pointing}{instead}"
            )
        for column, column_refs in by_column.items():
            if column == chosen:
                continue
            for child, fk in column_refs:
                foreign[child].remove(fk)
                rejected.append(
                    RejectedKey(
                        child,
                        [fk.column],
                        f"{parent}.{column}",
                        fk.coverage,
                        f"{parent}'s key is {chosen}, not {column}",
                    )
                )
    for name, fks in foreign.items():  # a table's own key is never one of its references
        own = primary[name].column
        for fk in [f for f in fks if f.column == own and f.references_table != name]:
            fks.remove(fk)
            rejected.append(
                RejectedKey(
                    name,
                    [fk.column],
                    f"{fk.references_table}.{fk.references_column}",
                    fk.coverage,
                    f"{name}.{own} is {name}'s own key",
                )
            )


def link_table_keys(
    tables: dict[str, pa.Table], primary: dict[str, Key], foreign: dict[str, list[ForeignKey]]
) -> None:
    """A keyless table whose two foreign keys are unique together (order lines) is keyed by that pair."""
    for name, key in primary.items():
        fks = foreign[name]
        if not key.undecided or len(fks) < 2:
            continue
        table = tables[name]
        for first, second in itertools.combinations(fks, 2):
            values = [table.column(first.column), table.column(second.column)]
            if not all_valid(values).all():
                continue
            if not is_unique_tuple(values):
                continue
            primary[name] = Key(
                None,
                True,
                f"unique, non-null pair of foreign keys ({first.column} -> {first.references_table}, "
                f"{second.column} -> {second.references_table}): a link table",
                columns=[first.column, second.column],
            )
            break
