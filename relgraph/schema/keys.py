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
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.connectors.base import SourceData
from relgraph.errors import SchemaError
from relgraph.schema.io import SchemaOverrides, closest
from relgraph.schema.model import CompositeForeignKey, ForeignKey, RejectedKey
from relgraph.schema.stypes import distinct_count
from relgraph.schema.times import comparable_keys, is_datetime_type, is_stringlike, is_whole_number, norm

MIN_COVERAGE = 0.8
MIN_SELF_COVERAGE = 0.95
#: References found by values alone (no name match) need more of their values found.
MIN_ROLE_COVERAGE = 0.9
#: An integer role reference's largest value must reach this share of the referenced key's values.
MIN_ROLE_REACH = 0.5
#: Turned-down candidates with less coverage than this are not worth showing.
REPORT_COVERAGE = 0.5
#: Composite keys are looked for among at most this many shared columns of a table (pairs grow quadratically).
MAX_COMPOSITE_COLUMNS = 12
#: Uniqueness is first checked on this many rows: most non-key columns repeat a value early.
_UNIQUE_PROBE_ROWS = 10_000
#: Primary-key names too generic to link by name alone (``airports.code`` is no FK to ``countries.code``).
GENERIC_KEY_NAMES = {"id", "key", "code", "name", "uuid", "guid", "pk"}
#: Prefixes of ``...id`` columns that point back into their own table (``manager_id``, ``ParentId``).
SELF_REFERENCE_HINT = re.compile(
    r"parent|manager|boss|supervisor|reportsto|mentor|referr|invitedby|replyto|repliedto|answer|question|"
    r"original|previous|prev|next|root|related|duplicate|successor|predecessor|child|spouse|partner|friend"
)
#: Whole (normalised) column names that name a relation to a row of the same table, without ``id``.
RELATION_NAMES = re.compile(
    r"(reportsto|managedby|manager|supervisor|supervisedby|parent|boss|mentor|replyto|inreplyto|referredby|"
    r"invitedby|predecessor|successor|spouse|partner)"
)
#: ``...Id`` prefixes naming a code of a kind (``VoteTypeId``, ``status_code``): a lookup value, not a row.
CODE_NAME = re.compile(r"(type|kind|class|status|category|level|code|mode|flag|state)$")


def table_stems(table: str) -> set[str]:
    """Normalised plural and singular forms of a table name (``races`` -> {races, race})."""
    n = norm(table)
    stems = {n}
    if n.endswith("ies") and len(n) > 4:
        stems.add(n[:-3] + "y")
    elif n.endswith(("ses", "xes", "ches", "shes")):
        stems.add(n[:-2])
    if n.endswith("s") and not n.endswith("ss") and len(n) > 2:
        stems.add(n[:-1])
    return stems


def _id_prefix(name: str) -> str | None:
    """``raceId`` -> ``race``; None when the name does not end with ``id``."""
    n = norm(name)
    return n[:-2] if n.endswith("id") and len(n) > 2 else None


def _name_tokens(name: str) -> list[str]:
    """``ship_via`` -> [ship, via]; ``shipVia`` -> [ship, via]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t.lower() for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]


def _shares_stem(column: str, table: str) -> bool:
    """A word of the column name (4+ letters) and the table name start alike (``ship_via``, ``shippers``)."""
    stems = table_stems(table)
    return any(
        len(token) >= 4 and any(s.startswith(token) or token.startswith(s) for s in stems)
        for token in _name_tokens(column)
    )


def _is_key_type(dtype: pa.DataType) -> bool:
    """Types a key can have: integers and strings (floats only as references, see ``_is_reference_type``)."""
    return pa.types.is_integer(dtype) or is_stringlike(dtype)


def _is_reference_type(values: pa.ChunkedArray) -> bool:
    """Foreign-key values: key types, or whole-number floats (integer ids with nulls after pandas)."""
    if pa.types.is_floating(values.type):
        return is_whole_number(values)
    return _is_key_type(values.type)


def _family(values: pa.ChunkedArray) -> str:
    """``"int"`` (integers, whole-number floats) or ``"str"``: references by value need the same family."""
    return "str" if is_stringlike(values.type) else "int"


def is_unique(values: pa.ChunkedArray | pa.Array) -> bool:
    """No value twice. Integers spanning at most 4x their count use a counting pass (no hashing)."""
    if pa.types.is_integer(values.type) and len(values):
        bounds = pc.min_max(values)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is not None and high - low < 4 * len(values):
            offsets = pc.subtract(values, low).to_numpy().astype(np.int64)
            return int(np.bincount(offsets).max()) <= 1
    return distinct_count(values) == len(values)


def describe_first(values: pa.Array) -> str:
    return repr(values[0].as_py()) if len(values) else "?"


def _columns_text(columns: Sequence[str]) -> str:
    return f"({', '.join(columns)})"


def tuple_codes(
    child_columns: Sequence[pa.ChunkedArray | pa.Array], parent_columns: Sequence[pa.ChunkedArray | pa.Array]
) -> tuple[pa.Array, pa.Array]:
    """Rows of a child and a parent as int64 codes of their value tuples (composite keys).

    Equal codes mean equal tuples. A child code is null where a value is null or absent from the
    parent's column; parent codes are never null when the parent columns have no nulls. Works on
    the raw values of any type (ISO strings, timestamps, integers) column by column.
    """
    child_code: pa.Array | None = None
    parent_code: pa.Array | None = None
    for child, parent in zip(child_columns, parent_columns):
        child, parent = comparable_keys(child, parent)
        dictionary = pc.unique(parent.drop_null())
        child_part = pc.cast(pc.index_in(child, value_set=dictionary), pa.int64())
        parent_part = pc.cast(pc.index_in(parent, value_set=dictionary), pa.int64())
        size = pa.scalar(max(len(dictionary), 1), pa.int64())
        if child_code is None or parent_code is None:
            child_code, parent_code = child_part, parent_part
        else:
            child_code = pc.add(pc.multiply(child_code, size), child_part)
            parent_code = pc.add(pc.multiply(parent_code, size), parent_part)
    assert child_code is not None and parent_code is not None
    return child_code, parent_code


def row_codes(columns: Sequence[pa.ChunkedArray | pa.Array]) -> pa.Array:
    """One table's rows as int64 codes of their value tuples (equal codes, equal tuples)."""
    code: pa.Array | None = None
    for column in columns:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        encoded = pc.dictionary_encode(column)
        part = pc.cast(encoded.indices, pa.int64())
        size = pa.scalar(max(len(encoded.dictionary), 1), pa.int64())
        code = part if code is None else pc.add(pc.multiply(code, size), part)
    assert code is not None
    return code


def is_unique_tuple(columns: Sequence[pa.ChunkedArray]) -> bool:
    """No value tuple twice; most non-key tuples repeat within the first rows, checked first."""
    if len(columns[0]) > _UNIQUE_PROBE_ROWS and not is_unique(
        row_codes([c.slice(0, _UNIQUE_PROBE_ROWS) for c in columns])
    ):
        return False
    return is_unique(row_codes(columns))


def _all_valid(columns: Sequence[pa.ChunkedArray]) -> np.ndarray:
    """Rows where none of ``columns`` is null."""
    valid = np.ones(len(columns[0]), dtype=bool)
    for column in columns:
        if column.null_count:
            valid &= np.asarray(column.is_valid())
    return valid


def tuple_containment(
    child_columns: list[pa.ChunkedArray], parent_columns: list[pa.ChunkedArray]
) -> tuple[float, int]:
    """(share of child rows without nulls whose tuple is in the parent, count of those not found)."""
    valid = _all_valid(child_columns)
    total = int(valid.sum())
    if total == 0:
        return 1.0, 0
    child_code, parent_code = tuple_codes(child_columns, parent_columns)
    found = int(pc.sum(pc.is_in(child_code, value_set=parent_code)).as_py() or 0)
    return found / total, total - found


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
    primary = _primary_keys(data, overrides)
    for name, key in primary.items():
        if key.inferred:
            continue
        if key.column is not None:
            validate_primary_key(name, key.column, tables[name])
        elif key.columns is not None:
            _validate_composite_key(name, key.columns, tables[name], key.evidence)
    rejected: list[RejectedKey] = []
    candidates = (
        {name: _candidate_keys(table) for name, table in tables.items() if primary[name].undecided}
        if infer
        else {}
    )
    foreign = _foreign_keys(data, primary, candidates, overrides, rejected, infer)
    _choose_referenced_keys(primary, candidates, foreign, rejected)
    composite_foreign = _composite_foreign_keys(data, primary, overrides, rejected, infer)
    if infer:
        _link_table_keys(tables, primary, foreign)
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


# ----------------------------------------------------------------------------- primary keys


def _primary_keys(data: SourceData, overrides: SchemaOverrides) -> dict[str, Key]:
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


def _validate_composite_key(table_name: str, columns: list[str], table: pa.Table, source: str) -> None:
    """A declared or file-given composite key: existing columns, no nulls, no tuple twice."""
    where = f"{table_name}.{_columns_text(columns)}"
    for column in columns:
        if column not in table.column_names:
            raise SchemaError(
                f"{where}: composite primary key ({source}) names missing column {column!r}"
                f"{closest(column, table.column_names)}"
            )
    values = [table.column(c) for c in columns]
    nulls = int((~_all_valid(values)).sum())
    if nulls:
        raise SchemaError(f"{where}: composite primary key has {nulls} rows with a NULL part; fix the data")
    codes = row_codes(values)
    duplicates = len(codes) - distinct_count(codes)
    if duplicates:
        raise SchemaError(
            f"{where}: composite primary key has {duplicates} duplicate rows; fix the data or name other columns"
        )


def _infer_primary_key(name: str, table: pa.Table, other_id_names: set[str]) -> Key:
    stems = table_stems(name)
    best: tuple[int, int, str, str] | None = None  # (score, -position, column, evidence)
    for position, column in enumerate(table.column_names):
        values = table.column(column)
        n = norm(column)
        prefix = _id_prefix(column)
        if not _is_key_type(values.type) or values.null_count or table.num_rows == 0:
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


def _candidate_keys(table: pa.Table) -> list[str]:
    """Unique, non-null integer or string columns: keys if other tables point into them."""
    out = []
    for column in table.column_names:
        values = table.column(column)
        if table.num_rows == 0 or values.null_count or not _is_key_type(values.type):
            continue
        probe = values.slice(0, _UNIQUE_PROBE_ROWS)
        if is_unique(probe) and is_unique(values):
            out.append(column)
    return out


def _choose_referenced_keys(
    primary: dict[str, Key],
    candidates: dict[str, list[str]],
    foreign: dict[str, list[ForeignKey]],
    rejected: list[RejectedKey],
) -> None:
    """A keyless table's candidate column that references point into becomes its key (the most
    referenced one); references into its other candidates are dropped."""
    incoming: dict[str, list[tuple[str, ForeignKey]]] = {}
    for child, fks in foreign.items():
        for fk in fks:
            if fk.references_table in candidates:
                incoming.setdefault(fk.references_table, []).append((child, fk))
    for parent, refs in incoming.items():
        by_column: dict[str, list[tuple[str, ForeignKey]]] = {}
        for child, fk in refs:
            by_column.setdefault(fk.references_column, []).append((child, fk))
        order = candidates[parent]
        chosen = max(
            by_column,
            key=lambda c: (len(by_column[c]), sum(fk.coverage for _, fk in by_column[c]), -order.index(c)),
        )
        pointing = ", ".join(f"{child}.{fk.column} ({fk.coverage:.1%})" for child, fk in by_column[chosen])
        primary[parent] = Key(
            chosen, True, f"unique, non-null, and other tables' values point into it: {pointing}"
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


def _link_table_keys(
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
            if not _all_valid(values).all():
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


# ----------------------------------------------------------------------------- foreign keys


def split_reference(reference: str, tables: dict[str, pa.Table], where: str) -> tuple[str, str]:
    """``"races.raceId"`` -> ``("races", "raceId")``; the longest table-name prefix wins (names may hold dots)."""
    matches = [t for t in tables if reference.startswith(t + ".")]
    if not matches:
        head = reference.split(".", 1)[0]
        if "." not in reference:
            raise SchemaError(f'{where}: references must read "table.column", got {reference!r}')
        raise SchemaError(f"{where} references missing table {head!r}{closest(head, list(tables))}")
    table = max(matches, key=len)
    return table, reference[len(table) + 1 :]


def _foreign_keys(
    data: SourceData,
    primary: dict[str, Key],
    candidates: dict[str, list[str]],
    overrides: SchemaOverrides,
    rejected: list[RejectedKey],
    infer: bool,
) -> dict[str, list[ForeignKey]]:
    tables = data.tables
    declared = data.declared.foreign_keys
    targets = [(parent, key.column, False) for parent, key in primary.items() if key.column is not None]
    targets += [(parent, column, True) for parent, columns in candidates.items() for column in columns]
    out: dict[str, list[ForeignKey]] = {}
    for name, table in tables.items():
        override = overrides.tables.get(name)
        if override is not None and override.foreign_keys is not None:
            fks = []
            for column, reference in override.foreign_keys:
                ref_table, ref_column = split_reference(
                    reference, tables, f"schema file {overrides.path}: {name}.{column}"
                )
                fks.append(
                    _declared_fk(tables, name, column, ref_table, ref_column, f"schema file {overrides.path}")
                )
        elif declared.get(name):
            fks = [
                _declared_fk(tables, name, c, rt, rc, "declared by the source")
                for c, rt, rc in declared[name]
            ]
        elif infer:
            excluded = (
                {c[0] for c in override.not_foreign_keys if len(c) == 1} if override is not None else set()
            )
            fks = _infer_foreign_keys(name, table, tables, primary[name].column, targets, excluded, rejected)
        else:
            fks = []
        out[name] = fks
    return out


@dataclass
class _Distinct:
    """A column's distinct non-null values and how often each occurs: every containment check
    against a candidate key looks up the distinct values only (hashing the column once)."""

    values: pa.Array
    counts: np.ndarray

    @classmethod
    def of(cls, column: pa.ChunkedArray) -> _Distinct:
        counted = pc.value_counts(column.drop_null())
        return cls(counted.field("values"), counted.field("counts").to_numpy().astype(np.int64))


class _Candidate:
    """A column considered as a reference; its distinct values are counted once, when first needed."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        self.column = column
        self._distinct: _Distinct | None = None

    @property
    def distinct(self) -> _Distinct:
        if self._distinct is None:
            self._distinct = _Distinct.of(self.column)
        return self._distinct


def _dense_range(parent_values: pa.ChunkedArray | pa.Array) -> tuple[int, int] | None:
    """``(lo, hi)`` when a unique integer key holds exactly the whole range ``lo..hi`` (most ids):
    containment in it is then a bounds test, with no hash table of the (possibly large) key."""
    if not pa.types.is_integer(parent_values.type) or len(parent_values) == 0 or parent_values.null_count:
        return None
    bounds = pc.min_max(parent_values)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return (low, high) if high - low + 1 == len(parent_values) else None


def _too_low(
    rejected: list[RejectedKey],
    table: str,
    columns: list[str],
    target: str,
    coverage: float,
    minimum: float,
    why: str = "",
    report_from: float = REPORT_COVERAGE,
) -> bool:
    """Whether ``coverage`` is below ``minimum``; if so, a candidate covering at least
    ``report_from`` is recorded in ``rejected`` (``inspect --verbose``)."""
    if coverage >= minimum:
        return False
    if coverage >= report_from:
        rejected.append(RejectedKey(table, columns, target, coverage, f"{why}coverage is below {minimum:.0%}"))
    return True


def _containment(child: pa.ChunkedArray | _Candidate, parent: pa.ChunkedArray) -> tuple[float, int]:
    """(share of the child's non-null values found in ``parent``, count of those not found).

    ``parent`` is a unique key. Numbers into a whole id range are compared with its bounds over
    the column; anything else looks up the column's distinct values (counted once per column).
    """
    candidate = child if isinstance(child, _Candidate) else _Candidate(child)
    column = candidate.column
    total = len(column) - column.null_count
    if total == 0:
        return 1.0, 0
    if not (_is_reference_type(column) and _is_key_type(parent.type)):
        return 0.0, total
    dense = _dense_range(parent) if _family(column) == "int" else None
    if dense is not None:
        values = column.drop_null().to_numpy()
        found = int(np.count_nonzero((values >= dense[0]) & (values <= dense[1])))
    else:
        distinct = candidate.distinct
        values_, parent_values = comparable_keys(distinct.values, parent.drop_null())
        found_mask = pc.is_in(values_, value_set=parent_values).to_numpy(zero_copy_only=False)
        found = int(distinct.counts[found_mask].sum())
    return found / total, total - found


def _declared_fk(
    tables: dict[str, pa.Table], table: str, column: str, ref_table: str, ref_column: str, source: str
) -> ForeignKey:
    """A declared or file-given foreign key, checked against the data."""
    where = f"{table}.{column}"
    if column not in tables[table].column_names:
        raise SchemaError(
            f"{where}: foreign-key column does not exist{closest(column, tables[table].column_names)}"
        )
    if ref_table not in tables:
        raise SchemaError(
            f"{where}: references missing table {ref_table!r}{closest(ref_table, list(tables))}"
        )
    if ref_column not in tables[ref_table].column_names:
        raise SchemaError(
            f"{where}: references missing column {ref_table}.{ref_column}{closest(ref_column, tables[ref_table].column_names)}"
        )
    parent = tables[ref_table].column(ref_column)
    if parent.null_count or distinct_count(parent) < len(parent):
        raise SchemaError(
            f"{where}: references {ref_table}.{ref_column}, which is not unique and non-null; reference a key column"
        )
    coverage, dangling = _containment(tables[table].column(column), parent)
    return ForeignKey(column, ref_table, ref_column, False, coverage, source, dangling)


def _fk_name_match(
    column: str, child: str, parent: str, parent_key: str, table_names: list[str]
) -> tuple[int, str] | None:
    """How strongly a column's name says it references ``parent.parent_key`` (3 strong .. 1 weak), with why."""
    n, key = norm(column), norm(parent_key)
    if n == key and key not in GENERIC_KEY_NAMES:
        return 3, f"same name as {parent}.{parent_key}"
    if any(n.endswith(stem + "id") for stem in table_stems(parent)):
        return 2, f"name ends with the table name {parent!r} + id"
    if key not in GENERIC_KEY_NAMES and n.endswith(key) and n != key:
        return 2, f"name ends with {parent}.{parent_key}"
    if parent != child or n == key:
        return None
    prefix = _id_prefix(column)
    if (
        prefix
        and SELF_REFERENCE_HINT.search(prefix)
        and not any(prefix.endswith(s) for t in table_names for s in table_stems(t))
    ):
        return 1, f"{column!r} names a relation, not a table: a self-reference"
    if RELATION_NAMES.fullmatch(n):
        return 1, f"{column!r} names a relation between rows: a self-reference"
    return None


def _is_reference_name(column: str, parent: str) -> bool:
    """Integers are references by value only under a name that says so."""
    words = _name_tokens(column)
    return (
        (len(words) > 1 and words[-1] in ("id", "key"))
        or bool(RELATION_NAMES.fullmatch(norm(column)))
        or _shares_stem(column, parent)
    )


def _reach(values: pa.ChunkedArray, parent: pa.ChunkedArray) -> float:
    """Share of the parent's key values at or below the child's largest value."""
    largest = pc.max(values).as_py()
    dense = _dense_range(parent)
    if dense is not None:
        return min(max(largest - dense[0] + 1, 0), len(parent)) / len(parent)
    keys = np.sort(parent.drop_null().to_numpy())
    return float(np.searchsorted(keys, largest, side="right")) / max(len(keys), 1)


def _role_guard(
    column: str, values: _Candidate, parent: str, key: str, parent_values: pa.ChunkedArray
) -> str:
    """Why a by-value reference is not believed ('' when it is)."""
    if _family(values.column) == "str":
        return (
            "a single distinct value is no evidence of a reference" if len(values.distinct.values) < 2 else ""
        )
    bounds = pc.min_max(values.column)
    if bounds["min"].as_py() == bounds["max"].as_py():
        return "a single distinct value is no evidence of a reference"
    prefix = _id_prefix(column) or norm(column)
    if CODE_NAME.search(prefix):
        return f"{column!r} names a code of a kind, not a row of {parent}"
    reach = _reach(values.column, parent_values)
    if reach < MIN_ROLE_REACH:
        return (
            f"values reach only the lowest {reach:.0%} of {parent}.{key}: small numbers (codes, counts, "
            "positions) that any id range holds"
        )
    return ""


def _infer_foreign_keys(
    name: str,
    table: pa.Table,
    tables: dict[str, pa.Table],
    own_key: str | None,
    targets: list[tuple[str, str, bool]],
    excluded: set[str],
    rejected: list[RejectedKey],
) -> list[ForeignKey]:
    fks: list[ForeignKey] = []
    table_names = list(tables)
    for column in table.column_names:
        values = table.column(column)
        if (
            column == own_key
            or column in excluded
            or not _is_reference_type(values)
            or values.null_count == len(values)
        ):
            continue
        non_null = len(values) - values.null_count
        usable = [(p, k, c) for p, k, c in targets if not (c and p == name)]
        candidate = _Candidate(values)
        best = _best_name_match(name, column, candidate, tables, usable, table_names, non_null, rejected)
        if best is None:
            best = _best_role_match(name, column, candidate, tables, usable, non_null, rejected)
        if best is not None:
            fks.append(best)
    return fks


def _best_name_match(
    name: str,
    column: str,
    values: _Candidate,
    tables: dict[str, pa.Table],
    targets: list[tuple[str, str, bool]],
    table_names: list[str],
    non_null: int,
    rejected: list[RejectedKey],
) -> ForeignKey | None:
    best: tuple[int, float, ForeignKey] | None = None
    for parent, key, _ in targets:
        match = _fk_name_match(column, name, parent, key, table_names)
        if match is None:
            continue
        strength, why = match
        coverage, dangling = _containment(values, tables[parent].column(key))
        minimum = MIN_COVERAGE if strength > 1 else MIN_SELF_COVERAGE
        if _too_low(rejected, name, [column], f"{parent}.{key}", coverage, minimum, f"{why}, but ", report_from=0.0):
            continue
        evidence = f"{why}; {coverage:.1%} of {non_null} non-null values found in {parent}.{key}"
        candidate = ForeignKey(column, parent, key, True, coverage, evidence, dangling)
        if best is None or (strength, coverage) > best[:2]:
            best = (strength, coverage, candidate)
    return best[2] if best is not None else None


def _best_role_match(
    name: str,
    column: str,
    values: _Candidate,
    tables: dict[str, pa.Table],
    targets: list[tuple[str, str, bool]],
    non_null: int,
    rejected: list[RejectedKey],
) -> ForeignKey | None:
    """The one table whose key holds the column's values (module docstring: the guards)."""
    family = _family(values.column)
    passed: list[tuple[bool, float, ForeignKey]] = []  # (shares a stem, coverage, fk)
    turned_down: list[RejectedKey] = []  # only the best-covered one is reported
    nameless: list[tuple[float, str]] = []  # integers under a non-reference name that a key holds
    for parent, key, _ in targets:
        parent_values = tables[parent].column(key)
        if parent == name or _family(parent_values) != family:
            continue
        if family == "int" and not _is_reference_name(column, parent):
            bounds, parent_bounds = pc.min_max(values.column), pc.min_max(parent_values)
            if (
                bounds["min"].as_py() < parent_bounds["min"].as_py()
                or bounds["max"].as_py() > parent_bounds["max"].as_py()
            ):
                continue
            coverage, _ = _containment(values, parent_values)
            if coverage >= MIN_ROLE_COVERAGE:
                nameless.append((coverage, f"{parent}.{key}"))
            continue
        coverage, dangling = _containment(values, parent_values)
        if _too_low(turned_down, name, [column], f"{parent}.{key}", coverage, MIN_ROLE_COVERAGE):
            continue
        reason = _role_guard(column, values, parent, key, parent_values)
        if reason:
            turned_down.append(RejectedKey(name, [column], f"{parent}.{key}", coverage, reason))
            continue
        stem = _shares_stem(column, parent)
        evidence = f"values found in {parent}.{key}: {coverage:.1%} of {non_null} non-null values" + (
            f", name shares its stem with {parent!r}" if stem else ", a role name"
        )
        passed.append((stem, coverage, ForeignKey(column, parent, key, True, coverage, evidence, dangling)))
    if turned_down:
        rejected.append(max(turned_down, key=lambda r: r.coverage or 0.0))
    if nameless and not turned_down:
        coverage, reference = max(nameless)
        rejected.append(
            RejectedKey(
                name,
                [column],
                reference,
                coverage,
                "integers whose name says no reference (a count, position, rating or year) fit inside that key",
            )
        )
    if not passed:
        return None
    passed.sort(key=lambda p: (p[0], p[1]), reverse=True)
    if len(passed) > 1 and passed[0][0] == passed[1][0] and passed[1][1] >= passed[0][1] - 0.01:
        options = " and ".join(f"{p[2].references_table}.{p[2].references_column}" for p in passed[:2])
        for _, coverage, fk in passed:
            rejected.append(
                RejectedKey(
                    name,
                    [column],
                    f"{fk.references_table}.{fk.references_column}",
                    coverage,
                    f"ambiguous: its values fit {options} alike; name the one meant in a schema file",
                )
            )
        return None
    for _, coverage, fk in passed[1:]:
        rejected.append(
            RejectedKey(
                name,
                [column],
                f"{fk.references_table}.{fk.references_column}",
                coverage,
                f"{passed[0][2].references_table} fits better",
            )
        )
    return passed[0][2]


# ----------------------------------------------------------------------------- composite keys


def _is_component_type(dtype: pa.DataType) -> bool:
    """Types a composite-key part can have: integers, strings, dates and timestamps."""
    return _is_key_type(dtype) or is_datetime_type(dtype)


def _composite_foreign_keys(
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
        pointing = ", ".join(f"{child} {_columns_text(columns)} ({fk.coverage:.1%})" for child, fk in refs)
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
            if _too_low(rejected, child, columns, f"{parent}.{_columns_text(columns)}", coverage, MIN_COVERAGE):
                continue
            if is_unique_tuple(child_values):  # one row each side: siblings sharing an id and a date
                rejected.append(RejectedKey(
                    child, columns, f"{parent}.{_columns_text(columns)}", coverage,
                    "one-to-one: the pair is unique in both tables (two records of one entity, not a reference)",
                ))
                continue
            rows = int(_all_valid(child_values).sum())
            evidence = (
                f"same-named columns; {coverage:.1%} of {rows} rows without nulls found in "
                f"{parent}.{_columns_text(columns)}, a unique pair"
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
    where = f"{table}.{_columns_text(columns)}"
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
    if not _all_valid(parent_values).all() or not is_unique(row_codes(parent_values)):
        raise SchemaError(
            f"{where}: references {ref_table}.{_columns_text(ref_columns)}, which is not unique and non-null; "
            "reference a key"
        )
    coverage, dangling = tuple_containment([tables[table].column(c) for c in columns], parent_values)
    return CompositeForeignKey(list(columns), ref_table, list(ref_columns), False, coverage, source, dangling)
