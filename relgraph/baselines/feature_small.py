"""The small-batch transform of the temporal feature builder: features of a handful of
``(entity, time)`` rows (one served request) that touch only those entities' rows.

The batch path (:mod:`~relgraph.baselines.feature_batch`) locates every frame row in a window
pass over all of a stream's running rows and joins the frame with the whole stream for window
extremes: linear in the database per call, and a query per stream. Here, what is fixed per fitted
builder and database is prepared once and cached (:class:`_SmallPlan`): the plan, the kept
features, the lookup statement, each stream's running table with a sorted index of its anchors,
the stream rows the window extremes read (sorted the same way), the feature statement and the
category dtypes. A call then

1. runs the lookup statement (entity and ancestor columns, anchor keys) on the registered frame;
2. per stream, finds each frame row's anchor block by binary search and, in it, the last running
   row at or before ``t`` (and ``t - window``): the as-of rule of
   :func:`~relgraph.baselines.feature_sql._locate_sql` (running rows at ``t`` count), on the
   cached positions; gathers those running rows, and the stream rows in the longest window;
3. evaluates every stream's feature expressions, the window extremes over the gathered rows
   included, in one statement (the same expressions and extremes SQL as the batch path);
4. assembles the frame column by column from Arrow (floats; categoricals from cached dtypes).

DuckDB only (a distributed engine takes the batch path). Equal to the batch path
(``tests/baselines/test_feature_small.py``: floats within 1e-9, same columns and dtypes, and a
``db.cut`` test).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.baselines.feature_batch import _SMALL_PLANS, _as_category, _BatchTransform, _extremes_sql
from relgraph.baselines.feature_eval import Compiled, Uncompilable, as_column, compile_feature
from relgraph.baselines.feature_index import _DAY_NS, RangeExtremes, _AnchorIndex, _nanoseconds
from relgraph.baselines.feature_plan import _Feature, _running_names, _Stream
from relgraph.baselines.feature_running import _Rows, prepared_rows, running_table, stream_rows
from relgraph.baselines.feature_sql import _execute, _extreme_column, _q
from relgraph.database import Database
from relgraph.engines import Engine, engine_for
from relgraph.json_values import json_strict

#: Frames with at most this many distinct (key, time) rows take the small-batch path (measured
#: with ``benchmarks/feature_small.py`` on the demo at scale 0.05, warm: the batch path took 11x
#: longer for 1 row, 4-7x for 100-200, 1.9x for 1,000 and 1.3x for 2,000; serve asks up to 1,000).
SMALL_BATCH_ROWS = 1000
#: Frames up to this many distinct rows take the compiled NumPy path inside :func:`numpy_path`
#: (``relgraph ask``: its contexts of thousands of rows), where every feature compiles.
_NUMPY_ROWS: contextvars.ContextVar[int] = contextvars.ContextVar("relgraph_numpy_rows", default=0)
#: Running tables up to this size get NumPy copies of their columns in the plan (faster gathers).
NUMPY_COPY_MAX_BYTES = 64 * 2**20
#: Prepared plans kept per database (one per fitted builder in use).
_SMALL_PLANS_PER_DB = 8
# Names of the tables a call registers, in the prepared statements (replaced per call).
_FRAME_TOKEN, _EXT_TOKEN, _ALIGNED_TOKEN, _ROWS_TOKEN = "__rg_small_frame__", "__rg_small_ext__", "__rg_small_aligned__", "__rg_small_rows__"


@dataclass
class _StreamPlan:
    """One stream's part of a :class:`_SmallPlan`."""

    stream: _Stream
    feats: list[_Feature]
    needed: list[str]
    shifts: list[int]
    window_columns: dict[int, list[str]]
    extremes: list[tuple[str, int, int]]
    running: pa.Table
    running_index: _AnchorIndex
    rows: pa.Table | None  # stream rows the window extremes read, sorted by (anchor, time)
    rows_index: _AnchorIndex | None
    select: str  # its feature statement, over the aligned table's structs and its rows
    compiled: list[tuple[str, Compiled]] | None = None  # its features as NumPy functions (feature_eval)
    running_columns: dict[str, np.ndarray] | None = None  # running columns as those functions read them
    row_columns: dict[int, RangeExtremes] | None = None  # numeric index -> stream rows' values (extremes)
    prepared: _Rows | None = None  # numpy_path: running columns computed at the rows a call reads


@dataclass
class _SmallPlan:
    """What a small-batch transform needs that is fixed per fitted builder and database."""

    lookup_sql: str  # over the frame registered as ``_FRAME_TOKEN``
    base_features: list[str]
    streams: list[_StreamPlan]
    columns: list[str]  # output order, as the batch path's
    categories: dict[str, pd.CategoricalDtype]
    codes: dict[str, dict[str, int]]


class _SmallBatchTransform(_BatchTransform):
    """The small-batch half of :class:`~relgraph.baselines.aggregates.TemporalFeatureBuilder`."""

    def _transform_pairs(self, db: Database, pairs: pd.DataFrame, key: str) -> pd.DataFrame:
        if 0 < len(pairs) <= max(SMALL_BATCH_ROWS, _NUMPY_ROWS.get()):
            out = self._transform_few(db, pairs, key, len(pairs) > SMALL_BATCH_ROWS)
            if out is not None:
                return out
        return super()._transform_pairs(db, pairs, key)

    def _running_table(self, db: Database, con: Engine, s: _Stream, names: list[str]) -> pa.Table:
        if _NUMPY_ROWS.get() and con.name == "duckdb":  # ask's: NumPy over the stream's sorted rows
            return running_table(self, db, con, s, names)
        return super()._running_table(db, con, s, names)

    def _transform_few(self, db: Database, pairs: pd.DataFrame, key: str, compiled_only: bool = False) -> pd.DataFrame | None:
        """Features of a few distinct ``[key, timestamp]`` rows, as :meth:`_transform_pairs`'s
        batch path gives them; None where this path does not apply (another engine, anchor keys
        of another type; ``compiled_only``: a feature that does not compile)."""
        con = engine_for(db)
        if con.name != "duckdb":
            return None
        plan = self._small_plan(db, con)
        if plan.streams and all(sp.compiled is not None for sp in plan.streams):
            return self._transform_compiled(db, con, plan, pairs, key)
        if compiled_only:
            return None
        n = len(pairs)
        # The frame as the batch path registers it (the same key and time types).
        frame = pd.DataFrame({"__fid": np.arange(n, dtype=np.int64), "__key": pairs[key].to_numpy(),
                              "__t": pd.to_datetime(pairs["timestamp"]).astype("datetime64[ns]").to_numpy()})
        tag = uuid.uuid4().hex
        names = {"frame": f"__rg_small_f_{tag}", "ext": f"__rg_small_x_{tag}", "aligned": f"__rg_small_a_{tag}"}
        registered: list[str] = []
        try:
            con.register(names["frame"], frame)
            registered.append(names["frame"])
            ext = _execute(con, plan.lookup_sql.replace(_FRAME_TOKEN, names["frame"]) + " ORDER BY f.__fid")
            times = _nanoseconds(ext.column("__t"))
            aligned: dict[str, pa.Array] = {"X": pa.StructArray.from_arrays(
                [ext.column("__fid").combine_chunks(), ext.column("__t").combine_chunks()], names=["__fid", "__t"])}
            parts = []
            for i, sp in enumerate(plan.streams):
                located = self._locate_few(sp, ext, times)
                if located is None:
                    return None
                positions, rows = located
                if sp.needed:
                    aligned[f"s{i}_R"] = _struct_of(sp.running.select(sp.needed).take(positions[0]))
                for w in sp.shifts:
                    aligned[f"s{i}_W{w}"] = _struct_of(sp.running.select(sp.window_columns[w]).take(positions[w]))
                rows_name = ""
                if rows is not None:
                    rows_name = f"__rg_small_r{i}_{tag}"
                    con.register(rows_name, rows)
                    registered.append(rows_name)
                parts.append(sp.select.replace(_ALIGNED_TOKEN, names["aligned"]).replace(_EXT_TOKEN, names["ext"])
                             .replace(_ROWS_TOKEN, rows_name))
            features = None
            if parts:
                con.register(names["ext"], ext)
                registered.append(names["ext"])
                con.register(names["aligned"], pa.table(aligned))
                registered.append(names["aligned"])
                joined = " JOIN ".join(f"({p}) q{i}" + (" USING (__fid)" if i else "") for i, p in enumerate(parts))
                features = _execute(con, f"SELECT * FROM {joined} ORDER BY __fid")
        finally:
            for name in registered:
                con.unregister(name)
        sources: dict[str, Any] = {n: ext.column(n) for n in plan.base_features}
        if features is not None:
            sources.update({n: features.column(n) for n in features.column_names if n != "__fid"})
        return _assemble(plan, sources, len(pairs))

    def _transform_compiled(self, db: Database, con: Engine, plan: _SmallPlan, pairs: pd.DataFrame,
                            key: str) -> pd.DataFrame | None:
        """:meth:`_transform_few` with the feature expressions compiled (:mod:`feature_eval`):
        one statement (the lookup), the rest NumPy over the gathered running rows."""
        ext = self._lookup_few(con, plan, pairs, key)
        times = _nanoseconds(ext.column("__t"))
        sources: dict[str, Any] = {n: ext.column(n) for n in plan.base_features}
        frame_cols = {"__t": as_column(ext.column("__t")), "__fid": np.arange(len(pairs), dtype=np.float64)}
        for sp in plan.streams:
            bounds = sp.running_index.blocks(ext.column(sp.stream.anchor))
            if bounds is None:
                return None
            assert sp.running_columns is not None and sp.compiled is not None
            cols: dict[str, dict[str, np.ndarray]] = {"X": frame_cols}
            for w in [0] + sp.shifts:
                at = sp.running_index.last_at_or_before(*bounds, times - w * _DAY_NS)
                pos = at.fill_null(-1).to_numpy()
                names = sp.needed if w == 0 else sp.window_columns[w]
                if sp.prepared is not None:
                    cols["R" if w == 0 else f"W{w}"] = self._running_at(sp, names, pos)
                else:
                    cols["R" if w == 0 else f"W{w}"] = {n: _running_values(sp, n, pos) for n in names}
            if sp.extremes:
                cols["E"] = self._extremes_few(sp, ext, times)
            n = len(pairs)
            for name, fn in sp.compiled:
                value = fn(cols)
                sources[name] = value if isinstance(value, np.ndarray) else np.full(n, value, dtype=np.float64)
        return _assemble(plan, sources, len(pairs))

    def _running_at(self, sp: _StreamPlan, names: list[str], positions: np.ndarray) -> dict[str, np.ndarray]:
        """Running columns ``names`` at running-row ``positions`` (-1: none), computed there only
        (``numpy_path``), as the compiled features read them."""
        assert sp.prepared is not None
        valid = positions >= 0
        found = sp.prepared.columns_at(self, sp.stream, names, sp.prepared.keep[positions[valid]])
        out = {}
        for n, col in found.items():
            values = as_column(col)
            if valid.all():
                out[n] = values
                continue
            full = np.full(len(positions), np.nan if values.dtype.kind == "f" else None, dtype=values.dtype)
            full[valid] = values
            out[n] = full
        return out

    def _lookup_few(self, con: Engine, plan: _SmallPlan, pairs: pd.DataFrame, key: str) -> pa.Table:
        """The lookup statement over the frame (registered as the batch path registers it)."""
        frame = pd.DataFrame({"__fid": np.arange(len(pairs), dtype=np.int64), "__key": pairs[key].to_numpy(),
                              "__t": pd.to_datetime(pairs["timestamp"]).astype("datetime64[ns]").to_numpy()})
        name = f"__rg_small_f_{uuid.uuid4().hex}"
        con.register(name, frame)
        try:
            return _execute(con, plan.lookup_sql.replace(_FRAME_TOKEN, name) + " ORDER BY f.__fid")
        finally:
            con.unregister(name)

    def _extremes_few(self, sp: _StreamPlan, ext: pa.Table, times: np.ndarray) -> dict[str, np.ndarray]:
        """Window MIN / MAX per frame row over its anchor's stream rows in ``(t - days, t]`` (as
        :func:`~relgraph.baselines.feature_batch._extremes_sql`; missing where none has a value)."""
        assert sp.rows_index is not None and sp.row_columns is not None
        bounds = sp.rows_index.blocks(ext.column(sp.stream.anchor))
        assert bounds is not None  # the running index compared the same anchors
        lo, hi = bounds
        windows = {w: sp.rows_index.window(lo, hi, times, w) for w in sorted({w for _, _, w in sp.extremes})}
        return {_extreme_column(agg, j, w): sp.row_columns[j](*windows[w], agg) for agg, j, w in sp.extremes}

    def _locate_few(self, sp: _StreamPlan, ext: pa.Table, times: np.ndarray
                    ) -> tuple[dict[int, pa.Array], pa.Table | None] | None:
        """Running-row positions per shift (0: at ``t``) of each frame row, and the stream rows its
        window extremes read; None when the frame's anchors do not compare with the stream's."""
        bounds = sp.running_index.blocks(ext.column(sp.stream.anchor))
        if bounds is None:
            return None
        positions = {0: sp.running_index.last_at_or_before(*bounds, times)}
        for w in sp.shifts:
            positions[w] = sp.running_index.last_at_or_before(*bounds, times - w * _DAY_NS)
        rows = None
        if sp.rows is not None and sp.rows_index is not None:
            row_bounds = sp.rows_index.blocks(ext.column(sp.stream.anchor))
            if row_bounds is None:
                return None
            rows = sp.rows.take(sp.rows_index.rows_within(*row_bounds, times, max(w for _, _, w in sp.extremes)))
        return positions, rows

    def _small_plan(self, db: Database, con: Engine) -> _SmallPlan:
        """The cached :class:`_SmallPlan` of this builder's fitted state on ``db``."""
        plans = _SMALL_PLANS.setdefault(db, {})
        state = self.to_dict()  # type: ignore[attr-defined]
        plan_key = json.dumps(state, default=json_strict)
        plan = plans.get(plan_key)
        if plan is None and self.features_ is not None:
            # The plan of this state before its features were chosen (fit_transform's) holds them all.
            state["state"].update(features=None, importance={})
            wide = plans.get(json.dumps(state, default=json_strict))
            if wide is not None and set(self.features_) <= set(wide.columns):
                plan = _narrowed(wide, self.features_)
                plans[plan_key] = plan
        if plan is None:
            plan = self._prepare_small(db, con)
            plans[plan_key] = plan
            while len(plans) > _SMALL_PLANS_PER_DB:
                plans.pop(next(iter(plans)))
        return plan

    def _prepare_small(self, db: Database, con: Engine) -> _SmallPlan:
        lookups, streams = self._plan(db)
        wanted = self._wanted()
        lookup_sql, lookup_features = self._lookup_sql(db, lookups, _FRAME_TOKEN)
        base = [n for n in lookup_features if wanted(n)]
        columns = list(base)
        plans = []
        for s in streams:
            feats = [f for f in self._stream_features(s) if wanted(f.name)]
            if not feats:
                continue
            i = len(plans)
            needed = _running_names(feats)
            shifts = sorted(set().union(*(f.shifts for f in feats)))
            extremes = sorted(set().union(*(f.extremes for f in feats)))
            prepared = prepared_rows(db, con, s) if _NUMPY_ROWS.get() and con.name == "duckdb" else None
            # numpy_path: the running rows' keys only; their columns are computed where a call reads them.
            running = prepared.keys() if prepared is not None else self._running_table(db, con, s, needed)
            rows = None
            if extremes and _NUMPY_ROWS.get():  # the stream's sorted rows, fetched once per database
                rows = stream_rows(db, con, s).select(["__anchor", "__t"] + sorted({s.numeric[j] for _, j, _ in extremes}))
            elif extremes:
                cols = "".join(f", {_q(s.numeric[j])}" for j in sorted({j for _, j, _ in extremes}))
                rows = _execute(con, f"SELECT __anchor, __t{cols} FROM ({s.sql}) ORDER BY __anchor, __t, __ord")
            structs = [f"{alias} AS {name}" for alias, name in
                       [(f"s{i}_R", "R")] * bool(needed) + [(f"s{i}_W{w}", f"W{w}") for w in shifts]]
            source = f"(SELECT {', '.join(['X'] + structs)} FROM {_ALIGNED_TOKEN}) A"
            if extremes:
                ext_sql = _extremes_sql(s, extremes, _EXT_TOKEN, rows_sql=f"SELECT * FROM {_ROWS_TOKEN}", with_fid=True)
                source += f" LEFT JOIN ({ext_sql}) E ON E.__efid = A.X.__fid"
            select = ", ".join(f"{f.sql} AS {_q(f.name)}" for f in feats)
            plans.append(_StreamPlan(
                s, feats, needed, shifts,
                {w: sorted({c for f in feats if w in f.shifts for c in f.window_running}) for w in shifts},
                extremes, running, _AnchorIndex.of(running), rows, _AnchorIndex.of(rows) if rows is not None else None,
                f"SELECT A.X.__fid AS __fid, {select} FROM {source}", prepared=prepared,
            ))
            columns += [f.name for f in feats]
        try:  # every expression compiled, or none: then the feature statement runs on DuckDB
            for sp in plans:
                sp.compiled = [(f.name, compile_feature(f.sql)) for f in sp.feats]
                # NumPy copies of the running columns for small tables; large ones are gathered per call.
                small = sp.prepared is None and sp.running.nbytes <= NUMPY_COPY_MAX_BYTES
                sp.running_columns = {n: as_column(sp.running.column(n)) for n in sp.needed} if small else {}
                if sp.rows is not None:
                    sp.row_columns = {j: RangeExtremes(as_column(sp.rows.column(sp.stream.numeric[j]))) for _, j, _ in sp.extremes}
        except Uncompilable:
            for sp in plans:
                sp.compiled = sp.running_columns = sp.row_columns = None
                if sp.prepared is not None:  # the feature statement reads whole running tables
                    sp.running, sp.prepared = running_table(self, db, con, sp.stream, sp.needed), None
        categories: dict[str, pd.CategoricalDtype] = {}
        for lk in lookups:
            for c in lk.categorical:
                categories[f"{lk.name}.{c}"] = _category_dtype(self.categories_.get(lk.name, {}).get(c, []))
        for s in streams:
            for c in s.categorical:
                for n in (f"{s.name}.{c}.last", f"{s.name}.{c}.mode"):
                    categories[n] = _category_dtype(self.categories_.get(s.name, {}).get(c, []))
        # A name two streams give once, where the batch path's first put it (the last one's values).
        columns = list(dict.fromkeys(columns))
        categories = {n: d for n, d in categories.items() if n in set(columns)}
        codes = {n: {str(v): j for j, v in enumerate(d.categories)} for n, d in categories.items()}
        return _SmallPlan(lookup_sql, base, plans, columns, categories, codes)


@contextlib.contextmanager
def numpy_path(rows: int) -> Iterator[None]:
    """Within the block (this thread or task), frames of up to ``rows`` distinct rows take the
    compiled NumPy path of the small-batch transform (equal to the batch path within 1e-9); the
    batch path's SQL stays the definition, and ``relgraph train`` keeps it."""
    token = _NUMPY_ROWS.set(rows)
    try:
        yield
    finally:
        _NUMPY_ROWS.reset(token)


def numpy_path_active() -> bool:
    """Whether the caller is inside :func:`numpy_path` (this thread or task)."""
    return _NUMPY_ROWS.get() > 0


def _narrowed(plan: _SmallPlan, features: list[str]) -> _SmallPlan:
    """``plan`` computing only ``features`` (a subset of its columns, kept in its order), sharing
    its running tables and indexes."""
    keep = set(features)
    streams = [dataclasses.replace(sp, compiled=None if sp.compiled is None else [(n, f) for n, f in sp.compiled if n in keep])
               for sp in plan.streams]
    return dataclasses.replace(plan, base_features=[n for n in plan.base_features if n in keep], streams=streams,
                               columns=[n for n in plan.columns if n in keep],
                               categories={n: d for n, d in plan.categories.items() if n in keep},
                               codes={n: c for n, c in plan.codes.items() if n in keep})


def _category_dtype(values: list[Any]) -> pd.CategoricalDtype:
    """The dtype :func:`~relgraph.baselines.feature_batch._as_category` gives over ``values``."""
    return _as_category(pd.Series([], dtype=object), values).dtype


def _struct_of(table: pa.Table) -> pa.StructArray:
    table = table.combine_chunks()
    arrays = [c.chunk(0) if c.num_chunks else pa.array([], type=c.type) for c in table.columns]
    return pa.StructArray.from_arrays(arrays, names=table.column_names)


def _running_values(sp: _StreamPlan, name: str, positions: np.ndarray) -> np.ndarray:
    """Running column ``name`` at ``positions`` (-1: none), as the compiled features read it."""
    assert sp.running_columns is not None
    if name in sp.running_columns:
        return _gather(sp.running_columns[name], positions)
    return as_column(sp.running.column(name).take(pa.array(positions, mask=positions < 0)))


def _gather(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``values`` at ``positions``, missing (NaN / None) where a position is -1 (no running row)."""
    out = values[positions] if len(values) else np.full(len(positions), np.nan if values.dtype.kind == "f" else None,
                                                           dtype=values.dtype)
    if (positions < 0).any():
        out = out.copy()
        out[positions < 0] = np.nan if out.dtype.kind == "f" else None
    return out


def _assemble(plan: _SmallPlan, sources: dict[str, Any], rows: int) -> pd.DataFrame:
    """The output frame, column by column from Arrow results or NumPy arrays (float64 with NaN,
    text as objects), typed as ``_categorise`` types the batch path's."""
    columns: dict[str, Any] = {}
    for name in plan.columns:
        col = sources[name]
        dtype = plan.categories.get(name)
        if dtype is None and isinstance(col, np.ndarray) and col.dtype == np.float64:
            columns[name] = col
        elif dtype is not None:
            lookup = plan.codes[name]
            values = col if isinstance(col, np.ndarray) else np.array(col.to_pylist(), dtype=object)
            if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):  # text and missing: one lookup
                found = pd.Index(list(lookup), dtype=object).get_indexer(values)
                codes = np.where(found >= 0, np.array(list(lookup.values()) + [-1])[found], -1)
            else:
                codes = np.array([-1 if v is None or v != v else lookup.get(str(v), -1) for v in values])
            columns[name] = pd.Categorical.from_codes(codes.astype(np.int8 if len(lookup) < 127 else np.int32), dtype=dtype)
        elif isinstance(col, np.ndarray):
            columns[name] = col.astype(np.float64) if col.dtype.kind == "f" else pd.to_numeric(
                pd.Series(col), errors="coerce").astype("float64").to_numpy()
        elif pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_null(col.type):
            columns[name] = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        else:  # as _categorise: anything else numeric where it parses
            columns[name] = pd.to_numeric(col.to_pandas(), errors="coerce").astype("float64").to_numpy()
    floats = [n for n in plan.columns if n not in plan.categories]
    # One float block (a frame of hundreds of one-column blocks costs more than the features).
    # The index keeps one row per pair even when no feature is kept (a parent with none matching).
    out = pd.DataFrame(np.column_stack([columns[n] for n in floats]) if floats else None, columns=floats,
                       index=pd.RangeIndex(rows))
    for name in plan.categories:
        out[name] = columns[name]
    return out if list(out.columns) == plan.columns else out[plan.columns]
