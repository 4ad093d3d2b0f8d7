"""What the temporal feature builder computes for a schema: the entity's and ancestors'
lookups, the event streams reachable through foreign keys, each stream's features and the
running (window-function) columns they read. Pure SQL text from the schema and the fitted
state; nothing here runs a query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relgraph.baselines.feature_sql import (
    _days,
    _extreme_column,
    _literal,
    _parent_label,
    _q,
    _std_sql,
    _unique_child,
    _value_columns,
    _value_tag,
    _visible,
)
from relgraph.database import TIME_COLUMN, Database
from relgraph.errors import QueryError, SchemaError

#: Categories whose last-n share is computed (the most frequent ones).
SHARE_CATEGORIES = 3
#: Mean Gregorian year in days: a timestamp's anniversary phase is its age modulo this.
YEAR_DAYS = 365.2425
#: Time given to rows of static tables in event streams: before any prediction time.
_STATIC_TIME = "TIMESTAMP_NS '1700-01-01'"


@dataclass
class _Stream:
    """Rows of one table reachable from the entity, each tied to an anchor key and a time.

    ``sql`` selects ``__anchor, __t, __ord`` and the value columns (named as in ``numeric`` /
    ``categorical``); ``anchor`` is the frame column holding the anchor key (``__key`` for the
    entity's own key, ``__link<i>`` for a parent's key).
    """

    name: str
    anchor: str
    sql: str
    numeric: list[str]
    categorical: list[str]
    timed: bool
    attached: set[str] = field(default_factory=set)  # value columns that come from a parent row
    # ``sql``'s rows unordered, with ``__ord_raw`` for ``__ord``: sorted by (anchor, ``order``) they
    # come in the order of ``sql``'s (anchor, time, row number) (feature_running.stream_rows).
    unordered: str = ""
    order: list[str] = field(default_factory=list)
    table: str = ""  # the table whose rows the stream holds (the chain's last)


@dataclass
class _Lookup:
    """A row joined to the frame row directly: the entity itself or one of its ancestors."""

    name: str  # feature prefix
    table: str
    alias: str
    join: str  # LEFT JOIN clause ('' for the entity)
    numeric: list[str]
    categorical: list[str]
    timestamps: list[str]
    key_alias: str | None  # frame column this row's key is exposed as (for anchored streams)


@dataclass
class _Feature:
    name: str
    sql: str
    running: set[str] = field(default_factory=set)  # running-table columns it reads
    shifts: set[int] = field(default_factory=set)  # windows (days) whose ASOF row it reads
    window_running: set[str] = field(default_factory=set)  # running columns it reads from that row
    categorical: bool = False
    extremes: set[tuple[str, int, int]] = field(default_factory=set)  # (min|max, numeric index, days) it reads


class _FeaturePlanning:
    """The planning half of :class:`~relgraph.baselines.aggregates.TemporalFeatureBuilder`
    (a mixin: it reads the builder's parameters and fitted state)."""

    entity_table_: str | None
    depth: int
    last_n: tuple[int, ...]
    windows_: list[int]
    centers_: dict[str, dict[str, float]]
    dominant_: dict[str, dict[str, Any]]
    categories_: dict[str, dict[str, list[Any]]]

    # ------------------------------------------------------------------ structure from the schema
    def stream_cells(self, db: Database, entity_table: str) -> int:
        """The work of this builder's event streams for ``entity_table``, before any fit: summed
        over its streams, the stream table's rows times the value columns the stream carries (what
        its running arrays and per-column passes scale with)."""
        planner = _FeaturePlanning()
        planner.entity_table_, planner.depth = entity_table, self.depth
        return sum(db.table(s.table).num_rows * (len(s.numeric) + len(s.categorical)) for s in planner._plan(db)[1])

    def _plan(self, db: Database) -> tuple[list[_Lookup], list[_Stream]]:
        entity = self.entity_table_
        assert entity is not None
        schema = db.schema
        if entity not in schema:
            raise QueryError(f"entity table {entity!r} is not in the database; use one of {schema.table_names}")
        ets = schema[entity]
        if ets.primary_key is None:
            raise SchemaError(f"entity table {entity!r} has no primary key; declare one in a schema file")
        lookups: list[_Lookup] = []
        streams: list[_Stream] = []
        own = _Lookup(entity, entity, "e", "", *_value_columns(ets), key_alias="__key")
        lookups.append(own)
        visible_e = _visible("e", ets, "f.__t")
        # depth 0: no child streams (hops_left -1) and no ancestors (hop 1 > depth) below.
        streams += self._child_streams(db, entity, "__key", entity, self.depth - 1)
        # Ancestors of the entity: their columns, and the event streams anchored at them.
        frontier = [(own, ets, visible_e, 1)]
        counter = 0
        while frontier:
            lk, ts, vis, hop = frontier.pop(0)
            for fk in ts.foreign_keys:
                if hop > self.depth or fk.references_table not in schema:
                    continue
                pts = schema[fk.references_table]
                counter += 1
                alias = f"p{counter}"
                cond = f"{alias}.{_q(fk.references_column)} = {lk.alias}.{_q(fk.column)} AND {vis}"
                pvis = _visible(alias, pts, "f.__t")
                join = f"LEFT JOIN {_q(pts.name)} {alias} ON {cond} AND {pvis}"
                name = f"{lk.name}.{_parent_label(ts, fk)}"
                key_alias = f"__link{counter}"
                plk = _Lookup(name, pts.name, alias, join, *_value_columns(pts), key_alias=key_alias)
                lookups.append(plk)
                streams += self._child_streams(db, pts.name, key_alias, name, self.depth - hop - 1)
                frontier.append((plk, pts, f"{alias}.{_q(fk.references_column)} IS NOT NULL", hop + 1))
        return lookups, streams

    def _child_streams(self, db: Database, anchor_table: str, anchor: str, prefix: str, hops_left: int) -> list[_Stream]:
        """Event streams of tables pointing at ``anchor_table`` (and their descendants)."""
        out: list[_Stream] = []
        if hops_left < 0:
            return out
        schema = db.schema
        for child, fk in schema.edges():
            if fk.references_table != anchor_table:
                continue
            cts = schema[child]
            label = child if _unique_child(schema, anchor_table, child) else f"{child}_by_{fk.column}"
            name = label if prefix == self.entity_table_ else f"{prefix}.{label}"
            chain = [(cts, fk)]
            out += self._descend(db, chain, anchor, name, hops_left)
        return out

    def _descend(self, db: Database, chain: list, anchor: str, name: str, hops_left: int) -> list[_Stream]:
        """The stream of the last table of ``chain`` (anchored at the first table's fk) and deeper ones."""
        schema = db.schema
        streams = [self._stream_sql(db, chain, anchor, name, hops_left)]
        if hops_left >= 1:
            last, _ = chain[-1]
            if last.primary_key is not None:
                for child, fk in schema.edges():
                    if fk.references_table != last.name or any(c.name == child for c, _ in chain):
                        continue
                    streams += self._descend(db, chain + [(schema[child], fk)], anchor, f"{name}.{child}", hops_left - 1)
        return streams

    def _stream_sql(self, db: Database, chain: list, anchor: str, name: str, hops_left: int) -> _Stream:
        """SELECT of the rows of ``chain[-1]`` with their anchor key, time and value columns."""
        aliases = [f"c{i}" for i in range(len(chain))]
        first_ts, first_fk = chain[0]
        froms = [f"{_q(first_ts.name)} c0"]
        for i in range(1, len(chain)):
            ts, fk = chain[i]
            froms.append(f"JOIN {_q(ts.name)} {aliases[i]} ON {aliases[i]}.{_q(fk.column)} = {aliases[i - 1]}.{_q(fk.references_column)}")
        timed = [f"{a}.{TIME_COLUMN}" for (ts, _), a in zip(chain, aliases) if ts.time is not None]
        # A row exists once every row of its chain exists: its time is the latest of theirs.
        t_expr = _STATIC_TIME if not timed else (timed[0] if len(timed) == 1 else f"GREATEST({', '.join(timed)})")
        last_ts, last_fk = chain[-1]
        last = aliases[-1]
        num, cat, _ = _value_columns(last_ts)
        selects = [f"CAST({last}.{_q(c)} AS DOUBLE) AS {_q(c)}" for c in num]
        selects += [f"CAST({last}.{_q(c)} AS VARCHAR) AS {_q(c)}" for c in cat]
        numeric, categorical = list(num), list(cat)
        attached: set[str] = set()
        # Columns of the last table's parents (not the one the chain came through), visible
        # only when the parent row is no newer than the event row.
        if hops_left >= 1:
            for j, fk in enumerate(last_ts.foreign_keys):
                if fk.column == last_fk.column or fk.references_table not in db.schema:
                    continue
                pts = db.schema[fk.references_table]
                pa_ = f"q{j}"
                pnum, pcat, _ = _value_columns(pts)
                if not pnum and not pcat:
                    continue
                froms.append(f"LEFT JOIN {_q(pts.name)} {pa_} ON {pa_}.{_q(fk.references_column)} = {last}.{_q(fk.column)}")
                vis = "TRUE" if pts.time is None else f"{pa_}.{TIME_COLUMN} <= {t_expr}"
                label = _parent_label(last_ts, fk)
                for c in pnum:
                    selects.append(f"CASE WHEN {vis} THEN CAST({pa_}.{_q(c)} AS DOUBLE) END AS {_q(label + '.' + c)}")
                    numeric.append(f"{label}.{c}")
                for c in pcat:
                    selects.append(f"CASE WHEN {vis} THEN CAST({pa_}.{_q(c)} AS VARCHAR) END AS {_q(label + '.' + c)}")
                    categorical.append(f"{label}.{c}")
                    attached.add(f"{label}.{c}")
        order = f"{last}.{_q(last_ts.primary_key)}" if last_ts.primary_key else "0"
        inner = (
            f"SELECT c0.{_q(first_fk.column)} AS __anchor, CAST({t_expr} AS TIMESTAMP_NS) AS __t0, "
            f"{order} AS __ord_raw, {', '.join(selects) if selects else 'NULL AS __none'} "
            f"FROM {' '.join(froms)} WHERE c0.{_q(first_fk.column)} IS NOT NULL"
        )
        cols = ", ".join(_q(c) for c in numeric + categorical)
        # Without a key, rows sharing a time are ordered by their own values: the engine's row
        # order is arbitrary, and "last" features would change from one run to the next.
        ties = "" if last_ts.primary_key else ", __anchor" + (", " + cols if cols else "")
        sql = (
            f"SELECT __anchor, __t0 AS __t, ROW_NUMBER() OVER (ORDER BY __t0, __ord_raw{ties}) AS __ord"
            f"{', ' + cols if cols else ''} FROM ({inner}) WHERE __t0 IS NOT NULL"
        )
        unordered = f"SELECT __anchor, __t0 AS __t, __ord_raw{', ' + cols if cols else ''} FROM ({inner}) WHERE __t0 IS NOT NULL"
        order = ["__t", "__ord_raw"] + ([] if last_ts.primary_key else numeric + categorical)
        return _Stream(name, anchor, sql, numeric, categorical, timed=bool(timed), attached=attached,
                       unordered=unordered, order=order, table=last_ts.name)


    def _lookup_sql(self, db: Database, lookups: list[_Lookup], fr_name: str) -> tuple[str, list[str]]:
        """SELECT of the frame with entity / ancestor columns and link keys."""
        ets = db.schema[self.entity_table_]
        selects = ["f.__fid", "f.__t", "f.__key"]
        joins = [f"LEFT JOIN {_q(self.entity_table_)} e ON e.{_q(ets.primary_key)} = f.__key AND {_visible('e', ets, 'f.__t')}"]
        names: list[str] = []
        for lk in lookups:
            if lk.join:
                joins.append(lk.join)
                pk = db.schema[lk.table].primary_key
                selects.append(f"{lk.alias}.{_q(pk)} AS {lk.key_alias}" if pk else f"NULL AS {lk.key_alias}")
            for c in lk.numeric:
                n = f"{lk.name}.{c}"
                selects.append(f"CAST({lk.alias}.{_q(c)} AS DOUBLE) AS {_q(n)}")
                names.append(n)
            for c in lk.categorical:
                n = f"{lk.name}.{c}"
                selects.append(f"CAST({lk.alias}.{_q(c)} AS VARCHAR) AS {_q(n)}")
                names.append(n)
            ages = [(f"{lk.name}.{c}", _days("f.__t", f"CAST({lk.alias}.{_q(c)} AS TIMESTAMP_NS)")) for c in lk.timestamps]
            if db.schema[lk.table].time is not None:
                ages.append((lk.name, _days("f.__t", f"{lk.alias}.{TIME_COLUMN}")))
            for base, age in ages:
                selects.append(f"{age} AS {_q(base + '.age_days')}")
                names.append(f"{base}.age_days")
                if self.depth > 0:  # depth 0 stays RelBench's LightGBM setting: the columns as they are
                    # Yearly cycles (membership anniversaries, renewals) are a phase of the age.
                    phase = f"({age} - {YEAR_DAYS} * floor({age} / {YEAR_DAYS}))"
                    selects.append(f"{phase} AS {_q(base + '.days_since_anniversary')}")
                    names.append(f"{base}.days_since_anniversary")
        sql = f"SELECT {', '.join(selects)} FROM {fr_name} f {' '.join(joins)}"
        return sql, names

    def _stream_features(self, s: _Stream) -> list[_Feature]:
        """Every feature of one stream, with the running columns and window shifts it reads."""
        p = s.name
        feats: list[_Feature] = []
        add = feats.append
        ws = self.windows_
        nmax = self.last_n[-1] if self.last_n else None
        cnt = "coalesce(R.__cnt, 0)"
        add(_Feature(f"{p}.count", cnt, {"__cnt"}))
        if s.timed:
            add(_Feature(f"{p}.days_since_last", _days("X.__t", "R.__tl"), {"__tl"}))
            add(_Feature(f"{p}.days_since_first", _days("X.__t", "R.__tf"), {"__tf"}))
            for w in ws:
                add(_Feature(f"{p}.count.{w}d", f"({cnt} - coalesce(W{w}.__cnt, 0))", {"__cnt"}, {w}, {"__cnt"}))
        centers = self.centers_.get(p, {})
        for i, c in enumerate(s.numeric):
            k = f"x{i}"
            ctr = centers.get(c, 0.0)
            n, s1, s2 = f"R.{k}_n", f"R.{k}_s1", f"R.{k}_s2"
            base = {f"{k}_n", f"{k}_s1"}
            add(_Feature(f"{p}.{c}.sum", f"({s1} + {n} * {ctr!r})", base))
            add(_Feature(f"{p}.{c}.mean", f"({s1} / nullif({n}, 0) + {ctr!r})", base))
            add(_Feature(f"{p}.{c}.std", _std_sql(n, s1, s2), base | {f"{k}_s2"}))
            add(_Feature(f"{p}.{c}.min", f"R.{k}_min", {f"{k}_min"}))
            add(_Feature(f"{p}.{c}.max", f"R.{k}_max", {f"{k}_max"}))
            add(_Feature(f"{p}.{c}.last", f"R.{k}_last", {f"{k}_last"}))
            if s.timed:
                for w in ws:
                    wn = f"({n} - coalesce(W{w}.{k}_n, 0))"
                    ws1 = f"({s1} - coalesce(W{w}.{k}_s1, 0))"
                    ws2 = f"({s2} - coalesce(W{w}.{k}_s2, 0))"
                    # SQL semantics: the sum over a window without values is missing, like its min / max.
                    add(_Feature(f"{p}.{c}.sum.{w}d", f"CASE WHEN {wn} > 0 THEN {ws1} + {wn} * {ctr!r} END", base, {w}, base))
                    add(_Feature(f"{p}.{c}.mean.{w}d", f"({ws1} / nullif({wn}, 0) + {ctr!r})", base, {w}, base))
                    for agg in ("min", "max"):
                        add(_Feature(f"{p}.{c}.{agg}.{w}d", f"E.{_extreme_column(agg, i, w)}", extremes={(agg, i, w)}))
                    add(_Feature(f"{p}.{c}.std.{w}d", _std_sql(wn, ws1, ws2), base | {f"{k}_s2"}, {w}, base | {f"{k}_s2"}))
            for m in self.last_n:
                if m > 1:
                    add(_Feature(f"{p}.{c}.mean.last{m}", f"R.{k}_mean_l{m}", {f"{k}_mean_l{m}"}))
            if nmax and nmax > 1:
                for agg in ("min", "max", "std"):
                    add(_Feature(f"{p}.{c}.{agg}.last{nmax}", f"R.{k}_{agg}_l{nmax}", {f"{k}_{agg}_l{nmax}"}))
        for i, (c, v) in enumerate(self.dominant_.get(p, {}).items()):
            k = f"d{i}"
            tag = f"{p}.{c}.eq{_value_tag(v)}"
            add(_Feature(f"{tag}.share", f"(R.{k}_s / nullif({cnt}, 0))", {f"{k}_s", "__cnt"}))
            if s.timed:
                # How long since the exception to the dominant value (a driver's last non-finish).
                add(_Feature(f"{p}.{c}.ne{_value_tag(v)}.days_since_last", _days("X.__t", f"R.{k}_tn"), {f"{k}_tn"}))
                for w in ws:
                    wc = f"({cnt} - coalesce(W{w}.__cnt, 0))"
                    add(_Feature(f"{tag}.share.{w}d", f"((R.{k}_s - coalesce(W{w}.{k}_s, 0)) / nullif({wc}, 0))", {f"{k}_s", "__cnt"}, {w}, {f"{k}_s", "__cnt"}))
            for m in self.last_n:
                add(_Feature(f"{tag}.share.last{m}", f"R.{k}_l{m}", {f"{k}_l{m}"}))
        cats = self.categories_.get(p, {})
        for i, c in enumerate(s.categorical):
            add(_Feature(f"{p}.{c}.last", f"R.c{i}_last", {f"c{i}_last"}, categorical=True))
            # A parent's category (e.g. the race's name) only as its last value: counts per
            # value of every parent column would multiply the features for little.
            values = [] if c in s.attached else cats.get(c, [])
            if values:
                counts = [f"coalesce(R.c{i}_v{j}, 0)" for j in range(len(values))]
                needs = {f"c{i}_v{j}" for j in range(len(values))}
                # Most frequent kept value (ties: the globally more frequent one).
                mode = "CASE " + " ".join(
                    f"WHEN {counts[j]} > 0 AND {counts[j]} = greatest({', '.join(counts)}) THEN {_literal(str(values[j]))}"
                    for j in range(len(values))
                ) + " END"
                add(_Feature(f"{p}.{c}.mode", mode, needs, categorical=True))
            tags: set[str] = set()
            for j, v in enumerate(values):
                tag = f"{p}.{c}.{_value_tag(v)}"
                # Values alike but for punctuation ("ß", " ") keep apart (a value's tag has no dot).
                tag = f"{tag}.v{j}" if tag in tags else tag
                tags.add(tag)
                add(_Feature(f"{tag}.count", f"coalesce(R.c{i}_v{j}, 0)", {f"c{i}_v{j}"}))
                if s.timed and j < SHARE_CATEGORIES:
                    # Recency per value: a yearly badge is due about 365 days after the last one.
                    add(_Feature(f"{tag}.days_since_last", _days("X.__t", f"R.c{i}_v{j}_tl"), {f"c{i}_v{j}_tl"}))
                if s.timed:
                    for w in ws:
                        add(_Feature(f"{tag}.count.{w}d", f"(coalesce(R.c{i}_v{j}, 0) - coalesce(W{w}.c{i}_v{j}, 0))", {f"c{i}_v{j}"}, {w}, {f"c{i}_v{j}"}))
                if j < SHARE_CATEGORIES:
                    for m in self.last_n:
                        if m > 1:
                            add(_Feature(f"{tag}.share.last{m}", f"R.c{i}_v{j}_l{m}", {f"c{i}_v{j}_l{m}"}))
        return feats

    def _running_columns(self, s: _Stream) -> dict[str, str]:
        """Window-function SQL of every running column of a stream (over WINDOW ``w``)."""
        cols = {"__cnt": "count(*) OVER w", "__tl": "__t", "__tf": "min(__t) OVER w"}
        centers = self.centers_.get(s.name, {})

        def last_n(m: int) -> str:
            return f"(PARTITION BY __anchor ORDER BY __t, __ord ROWS BETWEEN {m - 1} PRECEDING AND CURRENT ROW)"

        nmax = self.last_n[-1] if self.last_n else None
        for i, c in enumerate(s.numeric):
            k, x = f"x{i}", _q(c)
            ctr = centers.get(c, 0.0)
            cols[f"{k}_n"] = f"count({x}) OVER w"
            cols[f"{k}_s1"] = f"sum({x} - {ctr!r}) OVER w"
            cols[f"{k}_s2"] = f"sum(({x} - {ctr!r}) * ({x} - {ctr!r})) OVER w"
            cols[f"{k}_min"] = f"min({x}) OVER w"
            cols[f"{k}_max"] = f"max({x}) OVER w"
            cols[f"{k}_last"] = x
            for m in self.last_n:
                cols[f"{k}_mean_l{m}"] = f"avg({x}) OVER {last_n(m)}"
            if nmax:
                cols[f"{k}_min_l{nmax}"] = f"min({x}) OVER {last_n(nmax)}"
                cols[f"{k}_max_l{nmax}"] = f"max({x}) OVER {last_n(nmax)}"
                cols[f"{k}_std_l{nmax}"] = f"stddev_samp({x}) OVER {last_n(nmax)}"
        for i, (c, v) in enumerate(self.dominant_.get(s.name, {}).items()):
            equal = f"coalesce({_q(c)} = {_literal(v)}, FALSE)"
            ind = f"CAST({equal} AS DOUBLE)"
            cols[f"d{i}_s"] = f"sum({ind}) OVER w"
            cols[f"d{i}_tn"] = f"max(CASE WHEN NOT {equal} THEN __t END) OVER w"
            for m in self.last_n:
                cols[f"d{i}_l{m}"] = f"avg({ind}) OVER {last_n(m)}"
        cats = self.categories_.get(s.name, {})
        for i, c in enumerate(s.categorical):
            cols[f"c{i}_last"] = _q(c)
            for j, v in enumerate(cats.get(c, [])):
                equal = f"{_q(c)} = {_literal(str(v))}"
                ind = f"CAST(coalesce({equal}, FALSE) AS DOUBLE)"
                cols[f"c{i}_v{j}"] = f"sum({ind}) OVER w"
                cols[f"c{i}_v{j}_tl"] = f"max(CASE WHEN {equal} THEN __t END) OVER w"
                for m in self.last_n:
                    cols[f"c{i}_v{j}_l{m}"] = f"avg({ind}) OVER {last_n(m)}"
        return cols


def _running_names(feats: list[_Feature]) -> list[str]:
    """The running columns ``feats`` read, sorted."""
    return sorted(set().union(*(f.running for f in feats)))
