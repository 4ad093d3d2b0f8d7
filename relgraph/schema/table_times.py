"""Each table's time during schema inference: the declared or file-given time column, the table's
own column (a date, an epoch number, date parts, or a bare year in an event table), or a time
inherited from a parent through a foreign key; with why a table stays static.

:func:`table_times` runs after key inference (it needs the keys, the single-column and the
composite references) and before implicit tables are made (:mod:`relgraph.schema.entities`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph.connectors.base import SourceData
from relgraph.errors import SchemaError
from relgraph.schema.entities import names_an_id
from relgraph.schema.io import SchemaOverrides, closest
from relgraph.schema.keys import Key, describe_first, table_stems
from relgraph.schema.model import CompositeForeignKey, ForeignKey, TimeInfo
from relgraph.schema.time_inference import (
    MANY_PER_PARENT,
    event_like,
    infer_own_time,
    inheritance_refusal,
    late_parent_times,
    referenced_tables,
    rows_per_parent,
    untimed_event_table,
)
from relgraph.schema.times import (
    TIME_VALUE_HINT,
    bad_times_message,
    lookup_parent_values,
    own_row_times,
    parse_clock_times,
    parse_datetimes,
    parts_row_times,
)


def _check_time_values(
    name: str, table: pa.Table, column: str, time_of_day: str | None, parts: dict[str, str] | None = None
) -> None:
    """A given time column (and clock or date-part columns) must parse entirely; else one line with a bad example."""
    if parts:
        _, bad = parts_row_times(table, column, parts)
        if len(bad):
            named = "/".join([column, *parts.values()])
            raise SchemaError(
                f"{name}.{named}: {len(bad)} rows are no dates (year-month-...: {describe_first(bad)}); "
                "name other columns in the schema file"
            )
        return
    hint = f"{TIME_VALUE_HINT}, or name another time column in a schema file"
    bad = _unparsed(f"{name}.{column}", table.column(column), parse_datetimes, hint)
    if len(bad):
        raise SchemaError(bad_times_message(f"{name}.{column}", table.column(column), bad))
    if time_of_day is None:
        return
    hint = "a clock-time column needs times like 06:00:00"
    bad = _unparsed(f"{name}.{time_of_day}", table.column(time_of_day), parse_clock_times, hint)
    if len(bad):
        raise SchemaError(
            f"{name}.{time_of_day}: {len(bad)} clock times do not parse, e.g. {describe_first(bad)}; use times like 06:00:00"
        )


def _unparsed(where: str, values: pa.ChunkedArray, parse: Callable[[Any], tuple[Any, Any]], hint: str) -> Any:
    """The values ``parse`` rejects; a column of the wrong type altogether is one error line naming ``where``."""
    try:
        return parse(values)[1]
    except TypeError as err:
        raise SchemaError(f"{where}: {err}; {hint}") from err


def table_times(
    data: SourceData,
    keys: dict[str, Key],
    foreign: dict[str, list[ForeignKey]],
    overrides: SchemaOverrides,
    warnings: list[str],
    static_reasons: dict[str, str],
    late_columns: dict[str, tuple[str, str]],
    composite: dict[str, list[CompositeForeignKey]],
) -> dict[str, TimeInfo | None]:
    """Each table's time (own, inherited or None); ``static_reasons`` receives why a table has none,
    ``late_columns`` the time columns dropped for coming after their rows' events (with why);
    ``composite`` (composite foreign keys) also make a table an event table of their parent."""
    tables = data.tables
    declared = data.declared.time_columns
    times: dict[str, TimeInfo | None] = {}
    file_inherit: dict[str, str] = {}
    undecided: list[str] = []
    for name, table in tables.items():
        override = overrides.tables.get(name)
        if override is not None and override.time is not None:
            spec = override.time
            if spec.inherit_via is not None:
                file_inherit[name] = spec.inherit_via
                continue
            if spec.unknown:
                times[name] = TimeInfo("", unknown=True, evidence=f"schema file {overrides.path}")
            elif spec.column is None:
                times[name] = None
                static_reasons[name] = f"time = false in schema file {overrides.path}"
            else:
                _check_time_values(name, table, spec.column, spec.time_of_day, spec.parts)
                times[name] = TimeInfo(
                    spec.column,
                    time_of_day_column=spec.time_of_day,
                    parts=dict(spec.parts),
                    evidence=f"schema file {overrides.path}",
                )
        elif name in declared:
            column = declared[name]
            if column not in table.column_names:
                raise SchemaError(
                    f"{name}: declared time column {column!r} does not exist{closest(column, table.column_names)}"
                )
            _check_time_values(name, table, column, None)
            times[name] = TimeInfo(column, evidence="declared by the source")
        elif declared:
            times[name] = None  # a source that declares times (RelBench) declares all of them
            static_reasons[name] = "the source declares no time column for it"
        else:
            key_columns = {keys[name].column} | {fk.column for fk in foreign[name]}
            own, static_reasons[name] = infer_own_time(
                name, table, key_columns, lambda name=name: _event_parent(name, tables, foreign, composite)
            )
            if own is None:
                undecided.append(name)
            else:
                times[name] = own
    for name, why in late_parent_times(tables, foreign, times).items():
        info = times[name]
        assert info is not None
        times[name] = None
        static_reasons[name] = f"{why}: static"
        late_columns[name] = (info.column, why)
        warnings.append(
            f"{name}: {why}; left static and {info.column} not used as a feature "
            f'(time = "{info.column}" in a schema file to use it anyway)'
        )

    for name, via in file_inherit.items():
        fk = next((f for f in foreign[name] if f.column == via), None)
        if fk is None:
            raise SchemaError(
                f"schema file {overrides.path}: {name}.time inherit_via {via!r} is not a foreign key of {name}"
                f"{closest(via, [f.column for f in foreign[name]])}"
            )
    # Inherit in dependency order: a table decides once each parent it references has decided.
    resolved_inherit: dict[str, TimeInfo] = {}

    def parent_time(parent: str) -> TimeInfo | None:
        return times.get(parent) or resolved_inherit.get(parent)

    pending = set(undecided) | set(file_inherit)
    while pending:
        progressed = False
        for name in sorted(pending, key=list(tables).index):
            parents = {fk.references_table for fk in foreign[name] if fk.references_table != name}
            if parents & pending and name not in file_inherit:
                continue
            if name in file_inherit:
                fk = next(f for f in foreign[name] if f.column == file_inherit[name])
                if fk.references_table in pending:
                    continue
                parent = parent_time(fk.references_table)
                if parent is None:
                    raise SchemaError(
                        f"schema file {overrides.path}: {name}.time inherit_via {fk.column!r}, but "
                        f"{fk.references_table} has no time to inherit"
                    )
                resolved_inherit[name] = _inherited(
                    fk, parent, f"schema file {overrides.path}", inferred=False
                )
            else:
                decided, why = _infer_inherited(name, tables, foreign, parent_time, warnings)
                if decided is None:
                    times[name] = None
                    static_reasons[name] += f"; {why}"
                else:
                    resolved_inherit[name] = decided
            pending.discard(name)
            progressed = True
        if not progressed:  # a cycle of tables that only reference each other: break it as static
            name = min(pending, key=list(tables).index)
            if name in file_inherit:
                raise SchemaError(
                    f"schema file {overrides.path}: {name}.time inherit_via forms a cycle of inherited times"
                )
            times[name] = None
            static_reasons[name] += "; its parents form a cycle without a time"
            pending.discard(name)
    times.update(resolved_inherit)
    if any(t is not None for t in times.values()):
        for name in undecided:
            if times.get(name) is None and (why := untimed_event_table(name, tables, foreign, keys[name].column)):
                warnings.append(why)
    return {name: times.get(name) for name in tables}


def _inherited(fk: ForeignKey, parent: TimeInfo, evidence: str, inferred: bool) -> TimeInfo:
    """Time taken from the parent through ``fk``; the parent's clock column is its own business (not repeated)."""
    return TimeInfo(
        column=parent.column,
        inherited_via=fk.column,
        parent_table=fk.references_table,
        inferred=inferred,
        evidence=evidence,
    )


#: A table with several timed parents inherits from one only if it is the latest for this share of rows.
LATEST_PARENT_SHARE = 0.95


def _parent_row_times(
    table: str,
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    parent_time: Callable[[str], TimeInfo | None],
) -> np.ndarray:
    """Row times of a timed table during inference (own, or inherited through its chain)."""
    info = parent_time(table)
    assert info is not None
    if info.inherited_via is None:
        return own_row_times(tables[table], info)[0]
    fk = next(f for f in foreign[table] if f.column == info.inherited_via)
    return lookup_parent_values(
        tables[table].column(fk.column),
        tables[fk.references_table].column(fk.references_column),
        _parent_row_times(fk.references_table, tables, foreign, parent_time),
    )


def _latest_parent(
    name: str,
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    timed: list[tuple[ForeignKey, TimeInfo]],
    parent_time: Callable[[str], TimeInfo | None],
) -> tuple[tuple[ForeignKey, TimeInfo], float]:
    """The parent whose time is the latest (ties count for all) in most rows, and that share of rows."""
    per_parent = np.stack(
        [
            lookup_parent_values(
                tables[name].column(fk.column),
                tables[fk.references_table].column(fk.references_column),
                _parent_row_times(fk.references_table, tables, foreign, parent_time),
            ).astype("int64")
            for fk, _ in timed
        ]
    )
    known = per_parent != np.iinfo(np.int64).min  # NaT
    if not known.any():
        return timed[0], 0.0
    is_latest = (per_parent == per_parent.max(axis=0)) & known
    rows = known.any(axis=0)
    shares = is_latest[:, rows].mean(axis=1)
    best = int(shares.argmax())
    return timed[best], float(shares[best])


def _infer_inherited(
    name: str,
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    parent_time: Callable[[str], TimeInfo | None],
    warnings: list[str],
) -> tuple[TimeInfo | None, str]:
    """The time inherited from the one timed parent (or the latest of several), or None and why not."""
    with_time = [
        (fk, parent_time(fk.references_table)) for fk in foreign[name] if fk.references_table != name
    ]
    timed = [(fk, t) for fk, t in with_time if t is not None]
    if not timed:
        return None, "references no timed table: static"
    share = None
    if len(timed) > 1:
        options = ", ".join(f"{fk.references_table} via {fk.column}" for fk, _ in timed)
        best, share = _latest_parent(name, tables, foreign, timed, parent_time)
        if share < LATEST_PARENT_SHARE:
            hint = f'set time = {{ inherit_via = "{timed[0][0].column}" }} in a schema file to pick one'
            warnings.append(
                f"{name}: no time column of its own and several timed parents ({options}), none the latest "
                f"for {LATEST_PARENT_SHARE:.0%} of rows; left static, so its rows count as always known "
                f"(a leak risk if they are events): {hint}"
            )
            return None, f"several timed parents ({options}): none picked; {hint}"
        timed = [best]
    fk, parent = timed[0]
    refusal = inheritance_refusal(name, fk, parent, tables, table_stems(fk.references_table))
    if refusal is not None:
        return _refused_inheritance(name, fk, refusal, tables, foreign, warnings)
    source = (
        parent.column
        if parent.time_of_day_column is None
        else f"{parent.column} + {parent.time_of_day_column}"
    )
    why = (
        "its only timed parent"
        if share is None
        else f"the latest of its timed parents for {share:.1%} of rows"
    )
    evidence = (
        f"no time column of its own; each row belongs to one {fk.references_table} row via {fk.column!r}, "
        f"{why}, so it takes {fk.references_table}.{source}"
    )
    return _inherited(fk, parent, evidence, inferred=True), ""


def _event_parent(
    name: str,
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    composite: dict[str, list[CompositeForeignKey]],
) -> ForeignKey | CompositeForeignKey | None:
    """What makes ``name`` an event table (:func:`event_like`); else an id column without a table
    of its own (it becomes an implicit table later) with many rows per id: a player's seasons."""
    parent = event_like(name, tables, foreign, composite)
    if parent is not None or name in referenced_tables(foreign):
        return parent
    stems = set().union(*(table_stems(t) for t in tables))
    keys = {fk.column for fk in foreign[name]}
    best: tuple[float, str] | None = None
    for column in tables[name].column_names:
        if column in keys or not names_an_id(tables[name], column, stems):
            continue
        per_parent = rows_per_parent(tables[name].column(column))
        if per_parent >= MANY_PER_PARENT and (best is None or per_parent > best[0]):
            best = (per_parent, column)
    return None if best is None else ForeignKey(best[1], best[1], best[1], inferred=True)


def _refused_inheritance(
    name: str,
    fk: ForeignKey,
    refusal: str,
    tables: dict[str, pa.Table],
    foreign: dict[str, list[ForeignKey]],
    warnings: list[str],
) -> tuple[TimeInfo | None, str]:
    """A table that must not take its parent's time: an event table gets no time (left out), others stay static."""
    hint = f'time = "<column>" or time = {{ inherit_via = "{fk.column}" }} in a schema file'
    event_fk = event_like(name, tables, foreign)
    if event_fk is None:
        warnings.append(f"{name}: {refusal}; left static ({hint} to give it a time)")
        return None, f"{refusal}: static"
    per = rows_per_parent(tables[name].column(event_fk.column))
    evidence = (
        f"an event table ({per:.1f} rows per {event_fk.references_table} row, referenced by no table) "
        f"without a time of its own; {refusal}"
    )
    warnings.append(
        f"{name}: LEFT OUT of features and sampling: {evidence}; as static or with that time its future rows "
        f"would be visible early; give its time with {hint}"
    )
    return TimeInfo("", unknown=True, inferred=True, evidence=evidence), ""
