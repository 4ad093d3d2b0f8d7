"""The batch transform of the temporal feature builder: every stream's running table (cached
per database and engine), the as-of location of every frame row, the feature expressions over
the aligned tables, and the frame caches. See :mod:`relgraph.baselines.aggregates`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from relgraph.baselines.feature_plan import _Feature, _FeaturePlanning, _Lookup, _running_names, _Stream
from relgraph.baselines.feature_sql import (
    _execute,
    _extreme_column,
    _locate_sql,
    _q,
    _struct,
    clear_database_caches,
    database_cache,
    registered_positions,
)
from relgraph.database import Database
from relgraph.engines import Engine, engine_for

#: Running tables per database: stream SQL -> Arrow table of running columns (see ``_running_table``).
_RUNNING_CACHE: weakref.WeakKeyDictionary[Database, dict[str, pa.Table]] = database_cache()
FRAME_CACHE_SIZE = 32
#: Feature frames larger than this (bytes, as float64) are not remembered.
FRAME_CACHE_MAX_BYTES = 512 * 2**20
#: Frames with more distinct (key, time) rows are featurised in chunks of this many rows.
FEATURE_CHUNK_ROWS = 400_000
#: Frames with more rows than this have their feature results passed by a distributed engine
#: through files, not its driver's memory.
LARGE_RESULT_ROWS = 100_000
#: Running tables beyond this many bytes in all are not kept between streams of a chunked frame.
RUNNING_CACHE_MAX_BYTES = 2 * 2**30
#: Feature frames per database: builder configuration + frame content -> features (and fitted state).
_FRAME_CACHE: weakref.WeakKeyDictionary[Database, dict[str, Any]] = database_cache()
#: Prepared small-batch plans per database: builder state -> plan (:mod:`~relgraph.baselines.feature_small`).
_SMALL_PLANS: weakref.WeakKeyDictionary[Database, dict[str, Any]] = database_cache()



class _BatchTransform(_FeaturePlanning):
    """The transform half of :class:`~relgraph.baselines.aggregates.TemporalFeatureBuilder`."""

    features_: list[str] | None
    include: str | None

    def _wanted(self) -> Callable[[str], bool]:
        """Whether a transform computes the feature of a name: a kept one after fit, else one
        ``include`` matches (all without it)."""
        if self.features_ is not None:
            return set(self.features_).__contains__
        return re.compile(self.include).search if self.include else lambda name: True  # type: ignore[return-value]

    def _transform(self, db: Database, frame: pd.DataFrame, key: str) -> pd.DataFrame:
        pairs = frame[[key, "timestamp"]].drop_duplicates().reset_index(drop=True)
        table = self._transform_pairs(db, pairs, key)
        if len(pairs) != len(frame):  # back to frame order (duplicated pairs share a row)
            pos = pairs.reset_index().merge(frame[[key, "timestamp"]].reset_index(names="__row"), on=[key, "timestamp"])
            table = table.iloc[pos.sort_values("__row")["index"].to_numpy()]
        table.index = frame.index
        return table

    def _transform_pairs(self, db: Database, pairs: pd.DataFrame, key: str) -> pd.DataFrame:
        """Features of distinct ``[key, timestamp]`` rows, in their order (float and category columns)."""
        con = engine_for(db)
        lookups, streams = self._plan(db)
        wanted = self._wanted()
        fr_name = f"__rg_frame_{uuid.uuid4().hex}"
        fr = pd.DataFrame({"__fid": np.arange(len(pairs), dtype=np.int64), "__key": pairs[key].to_numpy(),
                           "__t": pd.to_datetime(pairs["timestamp"]).astype("datetime64[ns]").to_numpy()})
        con.register(fr_name, fr)
        try:
            base_sql, base_features = self._lookup_sql(db, lookups, fr_name)
            ext = _execute(con, f"{base_sql} ORDER BY f.__fid")
        finally:
            con.unregister(fr_name)
        # The frame with its anchor keys (entity, ancestors) is the left side of every stream.
        anchors = ext.select([c for c in ext.column_names if c in ("__fid", "__t", "__key") or c.startswith("__link")])
        parts = [ext.to_pandas()]
        del ext
        for s in streams:
            feats = [f for f in self._stream_features(s) if wanted(f.name)]
            if not feats:
                continue
            if len(pairs) <= FEATURE_CHUNK_ROWS:
                parts.append(self._run_stream_over(db, s, feats, anchors))
            else:  # stream by stream, in row chunks: the temporaries stay chunk-sized
                running = self._running_table(db, con, s, _running_names(feats))
                with registered_positions(con, running) as pos_name:  # registered once for all chunks
                    chunks = (self._categorise(self._run_stream_over(db, s, feats, anchors.slice(lo, FEATURE_CHUNK_ROWS),
                                                                     pos_name), lookups, streams)
                              for lo in range(0, len(pairs), FEATURE_CHUNK_ROWS))
                    parts.append(_stack(chunks, len(pairs)))
                del running
                _forget_running(db, con, s)
            pa.default_memory_pool().release_unused()  # the stream's transient tables
        base = parts[0]
        columns: dict[str, Any] = {}
        for name in base_features:
            if wanted(name):
                columns[name] = base[name]
        for p in parts[1:]:
            for c in p.columns:
                if c != "__fid":
                    columns[c] = p[c]
        del parts, base
        # copy=False: the stream results become the columns (a copy would double the peak at scale).
        # The index keeps one row per pair even when no feature is kept (a parent with none matching).
        table = pd.DataFrame(columns, index=pd.RangeIndex(len(pairs)), copy=False)
        del columns
        pa.default_memory_pool().release_unused()
        return self._categorise(table, lookups, streams)


    def _running_table(self, db: Database, con: Engine, s: _Stream, names: list[str]) -> pa.Table:
        """Running table of stream ``s``: one row per (anchor, time) with the named columns.

        Columns depend only on the database and their SQL, so they are cached per database (and
        engine) and shared between ``transform`` calls and between builders fitted to the same cutoff.
        """
        exprs = self._running_columns(s)
        ids = {n: hashlib.sha1(f"{s.sql}|{exprs[n]}".encode()).hexdigest()[:20] for n in names}
        cache = _RUNNING_CACHE.setdefault(db, {})
        cache_key = f"{con.name}|{s.sql}"
        table = cache.get(cache_key)
        missing = [n for n in names if table is None or ids[n] not in table.column_names]
        if missing or table is None:
            w = "(PARTITION BY __anchor ORDER BY __t, __ord ROWS UNBOUNDED PRECEDING)"
            cols = "".join(f", {exprs[n].replace(' OVER w', ' OVER ' + w)} AS {_q(ids[n])}" for n in missing)
            picked = "".join(f", {_q(ids[n])}" for n in missing)
            # Rows sharing a time are one step: keep the last, whose running values include all.
            fresh = _execute(con,
                f"SELECT __anchor, __t{picked} FROM (SELECT __anchor, __t{cols}, "
                f"row_number() OVER (PARTITION BY __anchor, __t ORDER BY __ord DESC) AS __step FROM ({s.sql})) "
                f"WHERE __step = 1 ORDER BY __anchor, __t", large=True,
            )
            if table is None:
                table = fresh
            else:
                for n in missing:
                    table = table.append_column(ids[n], fresh.column(ids[n]))
            cache[cache_key] = table
        return table.select(["__anchor", "__t"] + [ids[n] for n in names]).rename_columns(["__anchor", "__t"] + names)

    def _run_stream_over(self, db: Database, s: _Stream, feats: list[_Feature], anchors: pa.Table,
                         pos_name: str | None = None) -> pd.DataFrame:
        """:meth:`_run_stream` for the frame rows of ``anchors`` (registered while it runs)."""
        con = engine_for(db)
        name = f"__rg_frame_ext_{uuid.uuid4().hex}"
        con.register(name, anchors)
        try:
            return self._run_stream(db, s, feats, name, pos_name, large=anchors.num_rows > LARGE_RESULT_ROWS)
        finally:
            con.unregister(name)

    def _run_stream(self, db: Database, s: _Stream, feats: list[_Feature], ext_name: str,
                    pos_name: str | None = None, large: bool = False) -> pd.DataFrame:
        """The features of one stream for every row of the frame table ``ext_name``.

        Per frame row, the position of its anchor's last running row at or before ``t`` (and at
        or before ``t - window``) is found by one window pass over the running rows and the
        (shifted) frame rows (see :func:`_locate_sql`); the running rows are gathered at those
        positions (Arrow ``take``) and the feature expressions evaluated over the positionally
        aligned tables ``X`` (frame), ``R`` (at t), ``W<days>`` (at t - window) and ``E``
        (window extremes), held as struct columns of one table (``R.x0_n`` is a struct field).
        ``pos_name``: the running rows' positions registered already (:func:`registered_positions`);
        ``large``: results may be too big for a distributed engine's driver (:meth:`Engine.execute`).
        """
        con = engine_for(db)
        needed = _running_names(feats)
        shifts = sorted(set().union(*(f.shifts for f in feats)))
        extremes = sorted(set().union(*(f.extremes for f in feats)))
        running = self._running_table(db, con, s, needed)
        tag = uuid.uuid4().hex
        with contextlib.ExitStack() as stack:
            if pos_name is None:
                pos_name = stack.enter_context(registered_positions(con, running))
            located = _execute(con, _locate_sql(pos_name, f"SELECT __fid, __t, {s.anchor} AS __a FROM {ext_name}", shifts),
                               large=large)
        tables = {"X": located.select(["__fid", "__t"])}
        if needed:
            tables["R"] = running.select(needed).take(located.column("__r"))
        for w in shifts:
            wcols = sorted({c for f in feats if w in f.shifts for c in f.window_running})
            tables[f"W{w}"] = running.select(wcols).take(located.column(f"__w{w}"))
        if extremes:
            tables["E"] = self._window_extremes(con, s, extremes, ext_name, large)
        aligned = f"__rg_aligned_{tag}"
        con.register(aligned, pa.table({alias: _struct(t) for alias, t in tables.items()}))
        try:
            select = ", ".join(f"{f.sql} AS {_q(f.name)}" for f in feats)
            return _execute(con, f"SELECT X.__fid AS __fid, {select} FROM {aligned} ORDER BY __fid",
                            large=large).to_pandas()
        finally:
            con.unregister(aligned)

    def _window_extremes(self, con: Engine, s: _Stream, extremes: list[tuple[str, int, int]], ext_name: str,
                         large: bool = False) -> pa.Table:
        """Exact window MIN / MAX per frame row of ``ext_name``, ordered by ``__fid``.

        A range join pairs each frame row ``(anchor, t)`` with the stream rows of its anchor whose
        time is in ``(t - longest window, t]``; per ``(agg, numeric index, days)`` in ``extremes``
        a filtered aggregate keeps the rows in ``(t - days, t]`` (the rows the window differences
        of the other window features cover). Returns ``[n_frame, len(extremes)]`` columns named
        by :func:`_extreme_column`, missing where the window holds no value.
        """
        return _execute(con, _extremes_sql(s, extremes, ext_name) + " ORDER BY X.__fid", large=large)

    def _categorise(self, table: pd.DataFrame, lookups: list[_Lookup], streams: list[_Stream]) -> pd.DataFrame:
        """Category columns as pandas categoricals over the fitted values (others: missing)."""
        for lk in lookups:
            for c in lk.categorical:
                n = f"{lk.name}.{c}"
                if n in table:
                    table[n] = _as_category(table[n], self.categories_.get(lk.name, {}).get(c, []))
        for s in streams:
            for c in s.categorical:
                values = self.categories_.get(s.name, {}).get(c, [])
                for n in (f"{s.name}.{c}.last", f"{s.name}.{c}.mode"):
                    if n in table:
                        table[n] = _as_category(table[n], values)
        for c in table.columns:
            if not isinstance(table[c].dtype, pd.CategoricalDtype):
                table[c] = pd.to_numeric(table[c], errors="coerce").astype("float64")
        return table


def _extremes_sql(s: _Stream, extremes: list[tuple[str, int, int]], ext_name: str, rows_sql: str | None = None,
                  with_fid: bool = False) -> str:
    """The statement of :meth:`_BatchTransform._window_extremes` (unordered) over the stream rows
    of ``rows_sql`` (default: the whole stream); ``with_fid``: the frame row's ``__fid`` as ``__efid``."""
    longest = max(w for _, _, w in extremes)
    aggs = ", ".join(
        f"{agg}(S.{_q(s.numeric[i])}) FILTER (WHERE S.__t > X.__t - INTERVAL {int(w)} DAY) AS {_extreme_column(agg, i, w)}"
        for agg, i, w in extremes
    )
    return (
        f"SELECT {'X.__fid AS __efid, ' if with_fid else ''}{aggs} FROM (SELECT __fid, __t, {s.anchor} AS __a FROM {ext_name}) X "
        f"LEFT JOIN ({rows_sql or s.sql}) S ON S.__anchor = X.__a AND S.__t <= X.__t "
        f"AND S.__t > X.__t - INTERVAL {int(longest)} DAY GROUP BY X.__fid"
    )


def _as_category(values: pd.Series, categories: list[Any]) -> pd.Series:
    """Text values as a categorical over the fitted values; any other value is missing."""
    names = [str(c) for c in categories]
    text = values.astype("object")
    return pd.Categorical(text.where(text.notna() & text.isin(names), None), categories=names)


def clear_feature_cache() -> None:
    """Forget every cached running table, feature frame, small-batch plan, sorted stream and current
    parents' events (e.g. to time features from cold)."""
    clear_database_caches()


def _stack(chunks: Iterator[pd.DataFrame], rows: int) -> pd.DataFrame:
    """Row chunks (same columns: float64 or categorical with the same categories) as one frame of
    ``rows`` rows, filled into arrays allocated once (concatenating would hold the matrix twice)."""
    arrays: dict[str, np.ndarray] = {}
    dtypes: dict[str, Any] = {}
    start = 0
    for chunk in chunks:
        if not arrays:
            for c in chunk.columns:
                dtypes[c] = chunk[c].dtype
                categorical = isinstance(dtypes[c], pd.CategoricalDtype)
                arrays[c] = np.empty(rows, dtype=np.int32 if categorical else np.float64)
        stop = start + len(chunk)
        for c, out in arrays.items():
            out[start:stop] = chunk[c].cat.codes.to_numpy() if isinstance(dtypes[c], pd.CategoricalDtype) else chunk[c].to_numpy()
        start = stop
        del chunk  # freed before the next chunk is computed
    columns = {c: pd.Categorical.from_codes(out, dtype=dtypes[c]) if isinstance(dtypes[c], pd.CategoricalDtype) else out
               for c, out in arrays.items()}
    return pd.DataFrame(columns, copy=False)


def _forget_running(db: Database, con: Engine, s: _Stream) -> None:
    """Drop stream ``s``'s running table from the cache once the cache holds more than
    :data:`RUNNING_CACHE_MAX_BYTES` (at scale, recomputing it beats holding every stream's)."""
    cache = _RUNNING_CACHE.get(db, {})
    if sum(t.nbytes for t in cache.values()) > RUNNING_CACHE_MAX_BYTES:
        cache.pop(f"{con.name}|{s.sql}", None)


def _small(features: pd.DataFrame) -> bool:
    """Whether a feature frame is small enough to keep a copy of (at scale, recomputing beats
    holding the matrix twice)."""
    return features.shape[0] * max(features.shape[1], 1) * 8 <= FRAME_CACHE_MAX_BYTES


def _remember(memo: dict[str, Any], key: str, value: Any) -> None:
    """Store in a per-database memo, dropping the oldest entries beyond :data:`FRAME_CACHE_SIZE`."""
    memo[key] = value
    while len(memo) > FRAME_CACHE_SIZE:
        memo.pop(next(iter(memo)))


def _digest(frame: pd.DataFrame, key: str) -> str:
    """Content hash of the frame's key, timestamp (and label) columns."""
    cols = [key, "timestamp"] + (["label"] if "label" in frame.columns else [])
    return hashlib.sha1(pd.util.hash_pandas_object(frame[cols], index=False).to_numpy().tobytes()).hexdigest()
