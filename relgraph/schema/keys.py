"""Primary and foreign keys: declared by the source, given in a schema file, or inferred.

Declared and file-given keys are checked against the data; inference fills the rest and records
each decision's evidence as one readable sentence. Candidates it turns down are kept, with why,
in ``Schema.rejected_keys`` (``relgraph inspect --verbose`` shows them).

Primary keys (tables without a declared or file-given key):

1. By name: a column that is unique, non-null, integer or string, and named as an id: ``id``,
   ``<table>Id``/``<table>_id`` (plural or singular table name) scores highest, ``<prefix>Id``
   where the prefix resembles the table name (``qualifyId`` for ``qualifying``) next, any other
   ``...id``/``...key`` column last. A column named as another table's id (``driverId`` in a 1:1
   extension table) is not taken as the key.
2. By references (when no column is named as an id): a unique, non-null integer or string column
   that other tables' values point into (``airports.faa``, ``planes.tailnum``, an ISBN). A unique
   column nobody points into is not a key (names, descriptions are unique too).
3. Composite (when neither finds one): a unique, non-null pair of columns that another table's
   columns of the same names point into (weather ``(origin, time_hour)`` <- flights), or a unique
   pair of the table's own foreign keys (a link table: order lines ``(order_id, product_id)``).

Foreign keys (only when the source declares none; catalog constraints are authoritative, and a
source that declares foreign keys also declares all its primary keys):

- By name: a column whose name equals another table's key name (``raceId`` -> ``races.raceId``),
  or ends with ``<table>Id``/``<table>_id``/that key's name (``OwnerUserId`` -> ``Users``), or,
  for self-references, ends with ``id`` and names no table but a relation such as parent,
  manager, previous, related or answer (``manager_id``, ``ParentId``, ``AcceptedAnswerId``; see
  ``SELF_REFERENCE_HINT``), or is a relation phrase (``reports_to``; see ``RELATION_NAMES``).
  Accepted when at least ``MIN_COVERAGE`` of its non-null values are found in the key
  (``MIN_SELF_COVERAGE`` for self-references).
- By role (no name match): a column whose values are contained in another table's single-column
  key: same type family (integers with integers, strings with strings), at least
  ``MIN_ROLE_COVERAGE`` of its non-null values found, at least two distinct values. Integers need
  more, since small numbers (counts, positions, ratings, years) sit inside any ``1..n`` id range:
  a name saying reference (``winner_id``, ``loser_id``; ``ship_via`` sharing its stem with
  ``shippers``), not a code name (``VoteTypeId``), and values reaching at least ``MIN_ROLE_REACH``
  of the key's range. Values fitting two tables equally are ambiguous and left out. Several roles
  pointing at one table (``origin``/``dest`` -> ``airports``) are distinct foreign keys.

A table's own primary key is never a foreign key. Integer, string and whole-number float columns
(ids with nulls after pandas) can be references. Every containment check runs vectorised in Arrow
(hash lookups over whole columns), never as Python sets over rows.

The rules live by role: :mod:`~relgraph.schema.primary_keys`, :mod:`~relgraph.schema.foreign_keys`,
:mod:`~relgraph.schema.composite_keys`, over the shared value and name tests of
:mod:`~relgraph.schema.key_checks`; this module runs them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relgraph.connectors.base import SourceData
from relgraph.schema.composite_keys import composite_foreign_keys, validate_composite_key
from relgraph.schema.foreign_keys import MIN_COVERAGE, foreign_keys, split_reference
from relgraph.schema.io import SchemaOverrides
from relgraph.schema.key_checks import describe_first, table_stems, tuple_codes, tuple_containment
from relgraph.schema.model import CompositeForeignKey, ForeignKey, RejectedKey
from relgraph.schema.primary_keys import (
    Key,
    candidate_keys,
    choose_referenced_keys,
    link_table_keys,
    primary_keys,
    validate_primary_key,
)
from relgraph.schema.times import norm

__all__ = [
    "MIN_COVERAGE",
    "Key",
    "Keys",
    "describe_first",
    "infer_keys",
    "split_reference",
    "table_stems",
    "tuple_codes",
    "tuple_containment",
    "validate_primary_key",
]


@dataclass
class Keys:
    primary: dict[str, Key]
    foreign: dict[str, list[ForeignKey]]
    composite_foreign: dict[str, list[CompositeForeignKey]]
    rejected: list[RejectedKey] = field(default_factory=list)


def infer_keys(data: SourceData, overrides: SchemaOverrides, warnings: list[str] | None = None) -> Keys:
    """Primary, foreign and composite keys of every table (module docstring: the rules).

    Raises:
        SchemaError: declared or file-given keys that contradict the data (one line, ``table.column``).
    """
    tables = data.tables
    declared = data.declared
    warnings = warnings if warnings is not None else []
    infer = not any(declared.foreign_keys.values()) and not any(declared.composite.foreign_keys.values())
    primary = primary_keys(data, overrides)
    for name, key in primary.items():
        if key.inferred:
            continue
        if key.column is not None:
            validate_primary_key(name, key.column, tables[name])
        elif key.columns is not None:
            validate_composite_key(name, key.columns, tables[name], key.evidence)
    rejected: list[RejectedKey] = []
    # Keyless tables, and tables keyed by a bare "id" (a row number other tables may ignore in
    # favour of another unique column: People.ID beside People.playerID), offer candidate keys.
    candidates = (
        {
            name: [c for c in candidate_keys(table) if c != primary[name].column]
            for name, table in tables.items()
            if primary[name].undecided or _bare_id(primary[name])
        }
        if infer
        else {}
    )
    foreign = foreign_keys(data, primary, candidates, overrides, rejected, infer)
    choose_referenced_keys(primary, candidates, foreign, rejected)
    composite_foreign = composite_foreign_keys(data, primary, overrides, rejected, infer)
    if infer:
        link_table_keys(tables, primary, foreign)
    for child, fks in composite_foreign.items():
        for fk in fks:
            warnings.append(
                f"{child} ({', '.join(fk.columns)}) -> {fk.references_table}: a composite reference; the graph "
                "links it, but LightGBM features and PQL paths follow one-column references only and skip it"
            )
    for key in primary.values():
        if key.undecided:
            key.evidence = (
                "no unique, non-null, id-named column, and no unique column other tables point into"
            )
    return Keys(primary, foreign, composite_foreign, rejected)


def _bare_id(key: Key) -> bool:
    """An inferred key called just ``id``: it may be a row number nobody references."""
    return key.inferred and key.column is not None and norm(key.column) == "id"
