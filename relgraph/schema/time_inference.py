"""Which time a table's rows came to exist at: the rules ``build_schema`` applies to tables whose
time neither the source nor a schema file gives.

Own time (:func:`infer_own_time`), best first:

1. one column holding the time: date/timestamp types, ISO strings (with ``T``, ``Z`` or a UTC
   offset), and, in columns named as times, epoch numbers and ``YYYYMMDD`` dates (numbers or
   eight-digit strings); creation names beat plain ``date``/``time`` beat other time names;
2. a date split over ``year``/``month``/``day`` (/``hour``/``minute``) columns, which may share a
   prefix (``obs_year``, ``obs_month``...);
3. a bare year (``yearID``, ``season``) in an *event table* (:func:`event_like`): a row counts
   from the end of its year. In other tables a year is a feature (a plane's build year).

Never a row time: birth, death, build or foundation dates and years of an entity (features);
audit columns (``last_update``, ``modified_at``): a table with nothing else is static; ``hhmm``
clock numbers (``dep_time = 517``).

An own time that comes after the events referencing the row (:func:`late_parent_times`: most
child rows older than their parent, as with customers "created" at a dump date after their own
rentals) is no existence time: the table falls back to static, the column is not a feature, and a
warning gives the evidence.

Inherited time (:func:`inheritance_refusal`): a table without its own time takes a parent's only
when its rows are events *of* that parent (results of a race, lines of an order). It does not when
the foreign key names a role rather than the parent (a customer's ``support_rep_id`` -> employees),
or when the parent's time is an entity's existence time (registered, hired, debut) and the table has
several rows per parent row: such rows spread over the parent's lifetime, and stamping them at its
start would show the future. An event table refused this way gets no time at all (``unknown``):
its rows are left out of features and sampling, with a loud warning, until a schema file gives
its time.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.schema.model import CompositeForeignKey, ForeignKey, TimeInfo
from relgraph.schema.stypes import ISO_DATE_PATTERN
from relgraph.schema.times import (
    AUDIT_PATTERN,
    DATE_PARTS,
    epoch_evidence,
    is_clock_type,
    is_date_only,
    is_datetime_type,
    is_stringlike,
    lookup_parent_values,
    norm,
    number_format,
    number_time_format,
    own_row_times,
    parse_clock_times,
    parse_datetimes,
    time_name_score,
    yyyymmdd_strings,
)

BIRTH_PATTERN = re.compile(r"^dob$|birth", re.IGNORECASE)
#: Dates and years in an entity's life other than its birth: features, never row times.
ENTITY_DATE_PATTERN = re.compile(
    r"death|died|built|build_?(year|date)|manufactur|founded|foundation|establish|constructed|construction",
    re.IGNORECASE,
)
#: Names of a bare year or season column (``yearID``, ``season``, ``fiscal_year``).
YEAR_NAME = re.compile(r"^(year|yr|season|fiscalyear)(id|num|number|no)?$")
#: Time names saying when an entity (a person, an account) came to exist: its events come later.
#: A plain "created" is not among them: an order's creation time is the time of the order itself.
EXISTENCE_PATTERN = re.compile(
    r"regist|signup|signedup|joined|hire|debut|since|member|enrol|activat|onboard|firstseen", re.IGNORECASE
)
#: A table has "many rows per parent" from this many non-null references per distinct parent row.
MANY_PER_PARENT = 1.5
#: A parent whose time is later than this share of its children's times is no existence time.
LATE_PARENT_SHARE = 0.5
REASONS = {
    4: "a creation time",
    3: "named as the row's date/time",
    2: "a date/time name",
    1: "the only date/time values",
}


def rows_per_parent(values: pa.ChunkedArray) -> float:
    """Non-null references per distinct referenced value (1.0: one row per parent row)."""
    valid = values.drop_null()
    distinct = len(pc.unique(valid)) if len(valid) else 0
    return len(valid) / distinct if distinct else 0.0


def referenced_tables(foreign: dict[str, list[ForeignKey]]) -> set[str]:
    """Tables some other table references (self-references do not count)."""
    return {fk.references_table for name, fks in foreign.items() for fk in fks if fk.references_table != name}


def event_like(
    name: str,
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    composite: dict[str, list[CompositeForeignKey]] | None = None,
) -> ForeignKey | CompositeForeignKey | None:
    """The foreign key (single or composite) through which ``name`` is an event table, or None.

    An event table is referenced by no other table and has many rows per row of some parent
    (salaries of a player, results of a race, batting lines of a team's season); entities
    (customers, players) are referenced.
    """
    if name in referenced_tables(foreign):
        return None
    best: tuple[float, ForeignKey | CompositeForeignKey] | None = None
    for fk in foreign[name]:
        if fk.references_table == name:
            continue
        per_parent = rows_per_parent(tables[name].column(fk.column))
        if per_parent >= MANY_PER_PARENT and (best is None or per_parent > best[0]):
            best = (per_parent, fk)
    for cfk in (composite or {}).get(name, []):
        if cfk.references_table == name:
            continue
        per_parent = fk_rows_per_parent(tables[name], cfk)
        if per_parent >= MANY_PER_PARENT and (best is None or per_parent > best[0]):
            best = (per_parent, cfk)
    return best[1] if best else None


def fk_rows_per_parent(table: pa.Table, fk: ForeignKey | CompositeForeignKey) -> float:
    """Rows per referenced value (a tuple for a composite key), rows with a null left out."""
    if isinstance(fk, ForeignKey):
        return rows_per_parent(table.column(fk.column))
    tuples = table.select(fk.columns).drop_null()
    return tuples.num_rows / max(1, tuples.group_by(fk.columns).aggregate([]).num_rows)


def _clock_companion(table: pa.Table, column: str) -> str | None:
    """The clock-time column paired with a date column (``date``->``time``, ``fp1_date``->``fp1_time``)."""
    wanted = norm(column).replace("date", "time")
    if wanted == norm(column):
        return None
    for other in table.column_names:
        if norm(other) != wanted:
            continue
        values = table.column(other)
        if values.null_count == len(values):
            return None
        if (is_clock_type(values.type) or is_stringlike(values.type)) and not len(
            parse_clock_times(values)[1]
        ):
            return other
    return None


def _entity_date(column: str) -> str | None:
    """Why ``column`` is a date of an entity's life (a feature), or None."""
    if BIRTH_PATTERN.search(column):
        return f"{column!r} is a birth date, a feature, not the time a row came to exist"
    if ENTITY_DATE_PATTERN.search(column):
        return f"{column!r} is a date in an entity's life (death, build, foundation), a feature, not the time a row came to exist"
    return None


def _single_column_format(column: str, values: pa.ChunkedArray) -> str | None:
    """How a one-column time is written (``""`` for dates, timestamps and ISO strings), or None if it is no time."""
    if is_datetime_type(values.type):
        return ""
    if (fmt := number_time_format(column, values)) is not None:
        return epoch_evidence(fmt)
    if yyyymmdd_strings(column, values):
        return "date strings written YYYYMMDD (20230102)"
    if not is_stringlike(values.type):
        return None
    sample = values.drop_null().slice(0, 1000)
    if not pc.all(pc.match_substring_regex(sample, ISO_DATE_PATTERN)).as_py():
        return None
    return None if len(parse_datetimes(values)[1]) else ""


def date_part_groups(table: pa.Table, key_columns: set[str]) -> list[dict[str, str]]:
    """Dates split over integer columns: ``{"year": col, "month": col, ...}`` per shared name prefix.

    A group needs a year and a month; day, hour and minute are taken when present, each only if
    every value lies in its range (month 1-12, hour 0-23, ...).
    """
    by_prefix: dict[str, dict[str, str]] = {}
    for column in table.column_names:
        n = norm(column)
        values = table.column(column)
        if column in key_columns or not pa.types.is_integer(values.type) or values.null_count == len(values):
            continue
        for unit, (low, high) in DATE_PARTS.items():
            if not n.endswith(unit):
                continue
            bounds = pc.min_max(values)
            if bounds["min"].as_py() >= low and bounds["max"].as_py() < high:
                by_prefix.setdefault(n[: -len(unit)], {})[unit] = column
            break
    groups = []
    for parts in by_prefix.values():
        if "year" not in parts or "month" not in parts:
            continue
        kept: dict[str, str] = {}
        for unit in DATE_PARTS:  # contiguous from the year: an hour without a day is no time
            if unit not in parts:
                break
            kept[unit] = parts[unit]
        groups.append(kept)
    return groups


def infer_own_time(
    name: str, table: pa.Table, key_columns: set[str], event_of: Callable[[], ForeignKey | CompositeForeignKey | None]
) -> tuple[TimeInfo | None, str]:
    """The table's own time (a column, date parts, or an event table's year), or None and why not.

    Args:
        event_of: gives the foreign key through which the table is an event table
            (:func:`event_like`), asked only when a bare year could be its row time.
    """
    candidates: list[tuple[int, int, int, int, str]] = []  # (tier, score, -nulls, -position, column)
    formats: dict[str, str] = {}
    parts_of: dict[str, dict[str, str]] = {}
    skipped: list[str] = []
    audits: list[str] = []
    for position, column in enumerate(table.column_names):
        values = table.column(column)
        if column in key_columns or values.null_count == len(values):
            continue
        fmt = _single_column_format(column, values)
        if fmt is None:
            continue
        if (why := _entity_date(column)) is not None:
            skipped.append(why)
            continue
        if AUDIT_PATTERN.search(column):
            audits.append(column)
            continue
        formats[column] = fmt
        candidates.append((2, time_name_score(column), -values.null_count, -position, column))
    for parts in date_part_groups(table, key_columns):
        year = parts.pop("year")
        if (why := _entity_date(year)) is not None:
            skipped.append(why.replace("date", "date split over columns", 1))
            continue
        parts_of[year] = parts
        position = table.column_names.index(year)
        candidates.append((1, 3, -table.column(year).null_count, -position, year))
    years = [
        c
        for c in table.column_names
        if YEAR_NAME.match(norm(c)) and c not in key_columns and c not in parts_of
        and number_format(table.column(c)) == "year" and _entity_date(c) is None
    ]
    year_notes = []
    event_fk = event_of() if years else None
    for column in years:
        if event_fk is None:
            year_notes.append(
                f"{column!r} is a year in a table that is no event table (a build or founding year): a feature"
            )
            continue
        position = table.column_names.index(column)
        candidates.append((0, 3, -table.column(column).null_count, -position, column))
    if not candidates:
        why = ["no date/time column of its own"]
        if audits:
            why.append(
                f"{', '.join(map(repr, audits))} looks like an audit column (time of last change): never a row time, "
                "so the table is static"
            )
        return None, "; ".join(why + skipped + year_notes)
    tier, score, _, _, column = max(candidates)
    if tier == 2:
        evidence = f"{column!r}: {REASONS[score]}"
        if formats[column]:
            evidence += f", {formats[column]}"
    elif tier == 1:
        named = ", ".join(repr(c) for c in [column, *parts_of[column].values()])
        evidence = f"{named}: a date split over columns"
        if "day" not in parts_of[column]:
            evidence += " (a month: a row counts from the end of its month)"
    else:
        per = fk_rows_per_parent(table, event_fk) if event_fk else 0.0
        evidence = (
            f"{column!r}: {epoch_evidence('year')}; an event table ({per:.1f} rows per "
            f"{event_fk.references_table if event_fk else '?'} row, referenced by no table)"
        )
    if audits:
        evidence += f"; audit columns {', '.join(map(repr, audits))} not used"
    if skipped:
        evidence += "; " + "; ".join(skipped)
    companion = None
    if tier == 2 and is_date_only(table.column(column)):
        companion = _clock_companion(table, column)
    if companion is not None:
        evidence += f", combined with its clock time {companion!r}"
    return (
        TimeInfo(
            column=column,
            time_of_day_column=companion,
            parts=parts_of.get(column, {}) if tier == 1 else {},
            inferred=True,
            evidence=evidence,
        ),
        "",
    )


def _compare_by_day(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A date-only side cannot order events within a day: compare whole days then."""
    if np.all(a == a.astype("datetime64[D]")) or np.all(b == b.astype("datetime64[D]")):
        return a.astype("datetime64[D]"), b.astype("datetime64[D]")
    return a, b


def late_parent_times(
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    times: dict[str, TimeInfo | None],
) -> dict[str, str]:
    """Inferred own times that come after most events referencing their rows: ``{table: evidence}``.

    Only children with a time of their own are evidence; a parent is "late" when more than
    ``LATE_PARENT_SHARE`` of their linked rows are older than it (by day when either side is
    date-only).
    """
    own = {n: t for n, t in times.items() if t is not None and t.inherited_via is None and not t.unknown}
    cache: dict[str, np.ndarray] = {}

    def row_times(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = own_row_times(tables[name], own[name])[0]
        return cache[name]

    out: dict[str, str] = {}
    for parent, info in own.items():
        if not info.inferred:
            continue
        older = total = 0
        examples: list[str] = []
        for child, fks in foreign.items():
            if child == parent or child not in own:
                continue
            for fk in fks:
                if fk.references_table != parent:
                    continue
                parent_times = lookup_parent_values(
                    tables[child].column(fk.column), tables[parent].column(fk.references_column), row_times(parent)
                )
                child_times = row_times(child)
                both = ~np.isnat(parent_times) & ~np.isnat(child_times)
                c, p = _compare_by_day(child_times[both], parent_times[both])
                n_older = int(np.sum(c < p))
                older, total = older + n_older, total + int(both.sum())
                if n_older:
                    examples.append(f"{n_older} of {int(both.sum())} {child} rows via {fk.column!r}")
        if total and older / total > LATE_PARENT_SHARE:
            out[parent] = (
                f"{info.column!r} comes after the events that reference its rows ({', '.join(examples)}: "
                f"{older / total:.0%} are older than their {parent} row), so it is no existence time "
                "(a dump or migration date?)"
            )
    return out


def _names_parent(fk: ForeignKey, stems: set[str]) -> bool:
    """The foreign key is named after the table it references (``raceId``, ``order_id``), not a role (``support_rep_id``)."""
    n, key = norm(fk.column), norm(fk.references_column)
    return any(s in n for s in stems if len(s) > 1) or (len(key) > 2 and n.endswith(key))


def inheritance_refusal(
    name: str, fk: ForeignKey, parent: TimeInfo, tables: dict[str, pa.Table], stems: set[str]
) -> str | None:
    """Why rows of ``name`` are no events of the parent reached through ``fk`` (so they must not take its time), or None.

    Args:
        stems: normalised plural and singular forms of the parent table's name.
    """
    table = fk.references_table
    if not _names_parent(fk, stems):
        return (
            f"{fk.column!r} names a role, not {table}: a {name} row is no event of its {table} row, "
            f"so it does not take {table}.{parent.column}"
        )
    per = rows_per_parent(tables[name].column(fk.column))
    if parent.column and EXISTENCE_PATTERN.search(parent.column) and per >= MANY_PER_PARENT:
        return (
            f"{table}.{parent.column} is when a {table} row came to exist, and {name} has {per:.1f} rows per "
            f"{table} row, spread over its lifetime: taking that time would date them too early"
        )
    return None


def untimed_event_table(
    name: str, tables: dict[str, pa.Table], foreign: dict[str, list[ForeignKey]], primary_key: str | None
) -> str | None:
    """A warning for an event table left static because no parent has a time, or None.

    Pure link tables (only keys and audit columns, like Sakila's ``film_actor``) are relations,
    not events, and get none.
    """
    event_fk = event_like(name, tables, foreign)
    if event_fk is None:
        return None
    keys = {primary_key} | {fk.column for fk in foreign[name]}
    attributes = [
        c for c in tables[name].column_names
        if c not in keys and not AUDIT_PATTERN.search(c) and tables[name].column(c).null_count < tables[name].num_rows
    ]
    if not attributes:
        return None
    per = rows_per_parent(tables[name].column(event_fk.column))
    return (
        f"{name}: an event table ({per:.1f} rows per {event_fk.references_table} row, referenced by no table) "
        "without a time of its own or a timed parent; left static, so all its rows count as always known "
        '(a leak if they happen over time): give its time in a schema file (time = "<column>")'
    )
