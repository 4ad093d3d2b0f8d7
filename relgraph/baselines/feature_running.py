"""Running tables of the temporal feature builder computed in NumPy, for ``relgraph ask``.

The batch path computes a stream's running table with window functions in SQL
(:meth:`~relgraph.baselines.feature_batch._BatchTransform._running_table`): hundreds of window
aggregates per stream, the largest part of a first answer's feature time. What those windows read
depends only on the database and the stream: its rows sorted by ``(anchor, time, order)``, fetched
once per loaded database (:func:`stream_rows`, cached). The columns a fitted builder wants are then
cumulative sums, minima and maxima per anchor, and statistics over the last ``n`` rows, here in
NumPy (:func:`running_table`): the same rows and values as the SQL (floats within 1e-9: sums may add
in another order; ``tests/baselines/test_feature_running.py``), used only inside
:func:`~relgraph.baselines.feature_small.numpy_path`, so ``relgraph train`` keeps the SQL's. The
small-batch path asks for the columns only at the running rows a call reads
(:meth:`_Rows.columns_at`): last-n statistics then read ``n`` rows per asked row, not the stream.

Temporal integrity is the SQL's: every running row at ``t`` is made of stream rows at or before
``t`` of its own anchor (a cumulative value never reads a later row), and a prediction at ``t``
reads the running row of its anchor's last time at or before ``t``.
"""

from __future__ import annotations

import contextlib
import re
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.baselines.feature_plan import _Stream
from relgraph.baselines.feature_sql import _execute, database_cache
from relgraph.database import Database
from relgraph.engines import Engine

#: Per database: stream SQL -> its rows sorted by (anchor, time, order).
_STREAM_ROWS: weakref.WeakKeyDictionary[Database, dict[str, pa.Table]] = database_cache()
#: Per database: stream SQL -> its sorted rows prepared for running columns (:class:`_Rows`).
_PREPARED: weakref.WeakKeyDictionary[Database, dict[str, _Rows]] = database_cache()
#: Bytes of whole-stream arrays (cumulative values, prefix counts) a stream's rows keep.
FULL_ARRAYS_MAX_BYTES = 2 * 2**30


def prepared_rows(db: Database, con: Engine, s: _Stream) -> _Rows:
    """Stream ``s``'s sorted rows prepared for running columns (cached per database)."""
    cache = _PREPARED.setdefault(db, {})
    key = f"{con.name}|{s.sql}"
    if key not in cache:
        cache[key] = _Rows(stream_rows(db, con, s))
    return cache[key]


def stream_rows(db: Database, con: Engine, s: _Stream) -> pa.Table:
    """The rows of stream ``s`` sorted by ``(__anchor, __t, __ord)`` (cached per database).

    Sorted by Arrow from the stream's unordered rows, by anchor and then the keys of ``__ord``'s
    row number (time, row key, and the values where the table has no key; nulls last, as
    DuckDB's): the SQL's order without its two sorts (the global row number, then the anchors).
    ``__ord`` is the row's position in that order, which orders rows within an anchor as the
    row number does (all any reader of these rows asks of it)."""
    cache = _STREAM_ROWS.setdefault(db, {})
    key = f"{con.name}|{s.sql}"
    if key not in cache:
        if not s.unordered:
            cache[key] = _execute(con, f"SELECT * FROM ({s.sql}) ORDER BY __anchor, __t, __ord", large=True)
        else:
            raw = _execute(con, s.unordered, large=True)
            order = pc.sort_indices(raw, sort_keys=[(c, "ascending", "at_end") for c in ["__anchor"] + s.order])
            rows = raw.take(order).drop_columns(["__ord_raw"])
            cache[key] = rows.add_column(2, "__ord", pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    return cache[key]


@contextlib.contextmanager
def registered_streams(db: Database, con: Engine, streams: list[_Stream]) -> Iterator[list[str]]:
    """Per stream, its sorted rows (:func:`stream_rows`, cached) registered on ``con`` for the
    block: a FROM source equal to ``({s.sql})``, so the fit's statistics scan an Arrow table
    rather than evaluate the stream's joins and row numbers once per statistic."""
    names = [f"__rg_stream_{uuid.uuid4().hex}" for _ in streams]
    registered: list[str] = []
    try:
        for name, s in zip(names, streams):
            con.register(name, stream_rows(db, con, s))
            registered.append(name)
        yield names
    finally:
        for name in registered:
            con.unregister(name)


class _Rows:
    """A stream's sorted rows with what every running column needs: each row's anchor block start
    and whether it is the last row of its ``(anchor, time)`` step (the running table's rows).

    A running column is evaluated at any of the running rows (``k``: row positions, a subset of
    ``keep``), from whole-stream arrays (cumulative sums, prefix counts) computed once per column
    and builder state and kept here; last-n statistics read only the ``n`` rows before each ``k``."""

    def __init__(self, rows: pa.Table) -> None:
        self.rows = rows
        n = rows.num_rows
        anchors = rows.column("__anchor").to_numpy(zero_copy_only=False)
        self.t = pc.cast(pc.cast(rows.column("__t"), pa.timestamp("ns")), pa.int64()).to_numpy(zero_copy_only=False)
        new = np.ones(n, dtype=bool)
        if n:
            new[1:] = anchors[1:] != anchors[:-1]
        self.start = np.flatnonzero(new)[np.cumsum(new) - 1] if n else np.zeros(0, dtype=np.int64)
        last = np.ones(n, dtype=bool)
        if n:
            last[:-1] = new[1:] | (self.t[1:] != self.t[:-1])
        self.keep = np.flatnonzero(last)
        self.index = np.arange(n, dtype=np.int64)
        self._keys: pa.Table | None = None
        self._values: dict[str, np.ndarray] = {}
        self._codes: dict[str, tuple[np.ndarray, dict[Any, int]]] = {}
        self._full: dict[tuple[str, ...], np.ndarray] = {}
        self._full_bytes = 0

    def keys(self) -> pa.Table:
        """``[__anchor, __t]`` of the running rows, in order."""
        if self._keys is None:
            keep = pa.array(self.keep)
            self._keys = pa.table({"__anchor": self.rows.column("__anchor").take(keep), "__t": self.rows.column("__t").take(keep)})
        return self._keys

    def full(self, key: tuple[str, ...], make: Any) -> np.ndarray:
        """The whole-stream array ``make()`` named ``key``, computed once (oldest forgotten past
        :data:`FULL_ARRAYS_MAX_BYTES`)."""
        found = self._full.get(key)
        if found is None:
            found = self._full[key] = make()
            self._full_bytes += found.nbytes
            while self._full_bytes > FULL_ARRAYS_MAX_BYTES and len(self._full) > 1:
                self._full_bytes -= self._full.pop(next(iter(self._full))).nbytes
        return found

    def values(self, column: str) -> np.ndarray:
        """Numeric column ``column`` as float64 with NaN for NULL."""
        if column not in self._values:
            col = self.rows.column(column)
            self._values[column] = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        return self._values[column]

    def equal(self, column: str, value: str) -> np.ndarray:
        """Per row, whether text column ``column`` equals ``value`` (NULL: false), from its codes."""
        if column not in self._codes:
            encoded = pc.dictionary_encode(self.rows.column(column).combine_chunks())
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            self._codes[column] = (codes, {v: i for i, v in enumerate(encoded.dictionary.to_pylist())})
        codes, index = self._codes[column]
        return codes == index.get(value, -2)

    def recent(self, column: str, last_n: tuple[int, ...], k: np.ndarray) -> dict[str, np.ndarray]:
        """At running rows ``k``, statistics of numeric ``column`` over the last rows of their block
        (NULLs skipped; NaN where none): ``mean_l<m>`` per m of ``last_n``, ``min`` / ``max`` /
        ``std`` (sample) ``_l<largest>``, from one pass over the rows back (n x m, no matrix)."""
        x = self.values(column)
        start, nmax = self.start[k], max(last_n)
        total, count = np.zeros(len(k)), np.zeros(len(k))
        low, high = np.full(len(k), np.inf), np.full(len(k), -np.inf)
        out: dict[str, np.ndarray] = {}
        back = [np.where(k - j >= start, x[np.maximum(k - j, 0)], np.nan) for j in range(nmax)]
        with np.errstate(invalid="ignore", divide="ignore"):
            for j, v in enumerate(back):
                seen = ~np.isnan(v)
                total += np.where(seen, v, 0.0)
                count += seen
                low, high = np.fmin(low, v), np.fmax(high, v)
                if j + 1 in last_n:
                    out[f"mean_l{j + 1}"] = np.where(count > 0, total / count, np.nan)
            mean = total / count
            spread = sum(np.where(np.isnan(v), 0.0, (v - mean) ** 2) for v in back)
            out[f"std_l{nmax}"] = np.where(count > 1, np.sqrt(spread / (count - 1)), np.nan)
        out[f"min_l{nmax}"] = np.where(count > 0, low, np.nan)
        out[f"max_l{nmax}"] = np.where(count > 0, high, np.nan)
        return out

    def cumulative(self, values: np.ndarray) -> np.ndarray:
        """Per row, the sum of ``values`` over its block up to it (in row order, as a window sum
        adds). Whole numbers whose sums stay below 2**52 add exactly in any order: then one sum
        over the whole stream, differenced at the block starts, gives the same values."""
        if np.abs(values).sum() < 2.0**52 and np.array_equal(values, np.trunc(values)):
            c = np.r_[0.0, np.cumsum(values)]
            return c[self.index + 1] - c[self.start]
        return pd.Series(values).groupby(self.start).cumsum().to_numpy()

    def prefix(self, key: tuple[str, ...], indicator: Any) -> np.ndarray:
        """``[0, cumsum(indicator())]`` (int64: exact), kept under ``key``."""
        return self.full(key, lambda: np.r_[0, np.cumsum(indicator(), dtype=np.int64)])

    def count(self, c: np.ndarray, k: np.ndarray) -> np.ndarray:
        """At rows ``k``, how often the indicator of prefix counts ``c`` holds in their block up to them (as float)."""
        return (c[k + 1] - c[self.start[k]]).astype(np.float64)

    def recent_share(self, c: np.ndarray, m: int, k: np.ndarray) -> np.ndarray:
        """At rows ``k``, the mean of the indicator of prefix counts ``c`` over the last ``m`` rows of their block (exact)."""
        first = np.maximum(k + 1 - m, self.start[k])
        return (c[k + 1] - c[first]) / (k + 1 - first)

    def last_time_where(self, mask: np.ndarray) -> np.ndarray:
        """Per row, the row of the latest row of its block up to it where ``mask`` holds (-1: none)."""
        latest = np.maximum.accumulate(np.where(mask, self.index, -1)) if len(mask) else np.zeros(0, dtype=np.int64)
        return np.where(latest < self.start, -1, latest)

    def columns_at(self, builder: Any, s: _Stream, names: list[str], k: np.ndarray) -> dict[str, pa.Array]:
        """Running columns ``names`` (as :meth:`_FeaturePlanning._running_columns` defines them
        for ``builder``'s state) at running rows ``k``."""
        exprs = builder._running_columns(s)
        recent: dict[str, dict[str, np.ndarray]] = {}
        return {n: _column(builder, s, self, n, exprs[n], k, recent) for n in names}


def running_table(builder: Any, db: Database, con: Engine, s: _Stream, names: list[str]) -> pa.Table:
    """The running table :meth:`~relgraph.baselines.feature_batch._BatchTransform._running_table`
    gives for ``names``: one row per ``(anchor, time)`` of stream ``s`` (the last row of that time,
    whose running values include every row of it), ordered by anchor and time."""
    r = prepared_rows(db, con, s)
    keys = r.keys()
    out = {"__anchor": keys.column("__anchor"), "__t": keys.column("__t")}
    out.update(r.columns_at(builder, s, names, r.keep))
    return pa.table(out)


_NUMERIC = re.compile(r"x(\d+)_(n|s1|s2|min|max|last|mean_l(\d+)|min_l(\d+)|max_l(\d+)|std_l(\d+))$")
_DOMINANT = re.compile(r"d(\d+)_(s|tn|l(\d+))$")
_CATEGORY = re.compile(r"c(\d+)_(last|v(\d+)(?:_(tl|l(\d+)))?)$")


def _column(builder: Any, s: _Stream, r: _Rows, name: str, expr: str, k: np.ndarray,  # noqa: C901 - one branch per kind
            recent: dict[str, dict[str, np.ndarray]]) -> pa.Array:
    """Running column ``name`` (SQL ``expr``) at running rows ``k``; ``recent``: the call's
    last-n statistics by column (each computed once for all its names)."""
    if name == "__cnt":
        return pa.array(k - r.start[k] + 1)
    if name == "__tl":
        return pa.array(r.t[k], type=pa.timestamp("ns"))
    if name == "__tf":
        return pa.array(r.t[r.start[k]], type=pa.timestamp("ns"))
    found = _NUMERIC.match(name)
    if found:
        column = s.numeric[int(found.group(1))]
        x = r.values(column)
        kind = found.group(2)
        if kind == "n":
            c = r.prefix(("notnull", column), lambda: ~np.isnan(x))
            return pa.array(c[k + 1] - c[r.start[k]])
        if kind in ("s1", "s2"):
            center = builder.centers_.get(s.name, {}).get(column, 0.0)

            def summed() -> np.ndarray:
                missing = np.isnan(x)
                d = np.where(missing, 0.0, x - center)
                return np.where(_seen(r, column), r.cumulative(d if kind == "s1" else d * d), np.nan)

            return _floats(r.full(("expr", expr), summed)[k])
        if kind in ("min", "max"):
            fill = np.inf if kind == "min" else -np.inf

            def extreme() -> np.ndarray:
                acc = pd.Series(np.where(np.isnan(x), fill, x)).groupby(r.start)
                v = (acc.cummin() if kind == "min" else acc.cummax()).to_numpy()
                return np.where(np.isinf(v) & (v == fill), np.nan, v)

            return _floats(r.full(("expr", expr), extreme)[k])
        if kind == "last":
            return _floats(x[k])
        if column not in recent:
            recent[column] = r.recent(column, builder.last_n, k)
        return _floats(recent[column][kind])
    found = _DOMINANT.match(name)
    if found:
        column, value = list(builder.dominant_.get(s.name, {}).items())[int(found.group(1))]
        # NaN (NULL) is not equal: coalesce(x = v, FALSE)
        c = r.prefix(("equal", column, repr(value)), lambda: r.values(column) == value)
        if found.group(2) == "s":
            return _floats(r.count(c, k))
        if found.group(2) == "tn":
            return _times(r, r.full(("expr", expr), lambda: r.last_time_where(~(r.values(column) == value)))[k])
        return _floats(r.recent_share(c, int(found.group(3)), k))
    found = _CATEGORY.match(name)
    if found:
        column = s.categorical[int(found.group(1))]
        if found.group(2) == "last":
            return r.rows.column(column).take(pa.array(k)).combine_chunks()
        value = str(builder.categories_.get(s.name, {}).get(column, [])[int(found.group(3))])
        c = r.prefix(("text", column, value), lambda: r.equal(column, value))  # None (NULL) is not equal
        if found.group(4) is None:
            return _floats(r.count(c, k))
        if found.group(4) == "tl":
            return _times(r, r.full(("expr", expr), lambda: r.last_time_where(r.equal(column, value)))[k])
        return _floats(r.recent_share(c, int(found.group(5)), k))
    raise KeyError(f"running column {name!r}")


def _seen(r: _Rows, column: str) -> np.ndarray:
    """Per row, whether its block has a value of ``column`` up to it (a SQL sum over none is NULL)."""
    c = r.prefix(("notnull", column), lambda: ~np.isnan(r.values(column)))
    return r.full(("seen", column), lambda: c[r.index + 1] > c[r.start])


def _times(r: _Rows, rows: np.ndarray) -> pa.Array:
    """The times of ``rows`` (-1: null)."""
    return pa.array(r.t[np.maximum(rows, 0)], type=pa.timestamp("ns"), mask=rows < 0)


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.float64), mask=np.isnan(values))
