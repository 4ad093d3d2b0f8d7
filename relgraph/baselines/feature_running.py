"""Running tables of the temporal feature builder computed in NumPy, for ``relgraph ask``.

The batch path computes a stream's running table with window functions in SQL
(:meth:`~relgraph.baselines.feature_batch._BatchTransform._running_table`): hundreds of window
aggregates per stream, the largest part of a first answer's feature time. What those windows read
depends only on the database and the stream: its rows sorted by ``(anchor, time, order)``, fetched
once per loaded database (:func:`stream_rows`, cached). The columns a fitted builder wants are then
cumulative sums, minima and maxima per anchor, and statistics over the last ``n`` rows, here in
NumPy (:func:`running_table`): the same rows and values as the SQL (floats within 1e-9: sums may add
in another order; ``tests/baselines/test_feature_running.py``), used only inside
:func:`~relgraph.baselines.feature_small.numpy_path`, so ``relgraph train`` keeps the SQL's.

Temporal integrity is the SQL's: every running row at ``t`` is made of stream rows at or before
``t`` of its own anchor (a cumulative value never reads a later row), and a prediction at ``t``
reads the running row of its anchor's last time at or before ``t``.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.baselines.feature_plan import _Stream
from relgraph.baselines.feature_sql import _execute
from relgraph.database import Database
from relgraph.engines import Engine

#: Per database: stream SQL -> its rows sorted by (anchor, time, order).
_STREAM_ROWS: weakref.WeakKeyDictionary[Database, dict[str, pa.Table]] = weakref.WeakKeyDictionary()
#: Per database: (stream SQL, column, builder state it reads) -> running column, as computed here.
_COLUMNS: weakref.WeakKeyDictionary[Database, dict[tuple[str, str, str], pa.Array]] = weakref.WeakKeyDictionary()
#: Running columns kept per database.
COLUMNS_KEPT = 20_000


def stream_rows(db: Database, con: Engine, s: _Stream) -> pa.Table:
    """The rows of stream ``s`` sorted by ``(__anchor, __t, __ord)`` (cached per database)."""
    cache = _STREAM_ROWS.setdefault(db, {})
    key = f"{con.name}|{s.sql}"
    if key not in cache:
        cache[key] = _execute(con, f"SELECT * FROM ({s.sql}) ORDER BY __anchor, __t, __ord", large=True)
    return cache[key]


class _Rows:
    """A stream's sorted rows with what every running column needs: each row's anchor block start
    and whether it is the last row of its ``(anchor, time)`` step (the running table's rows)."""

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
        self._values: dict[str, np.ndarray] = {}
        self._recent: dict[str, dict[str, np.ndarray]] = {}
        self._codes: dict[str, tuple[np.ndarray, dict[Any, int]]] = {}

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

    def recent(self, column: str, last_n: tuple[int, ...]) -> dict[str, np.ndarray]:
        """At the running rows, statistics of numeric ``column`` over the last rows of their block
        (NULLs skipped; NaN where none): ``mean_l<m>`` per m of ``last_n``, ``min`` / ``max`` /
        ``std`` (sample) ``_l<largest>``, from one pass over the rows back (n x m, no matrix)."""
        if column in self._recent:
            return self._recent[column]
        x, k = self.values(column), self.keep
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
        self._recent[column] = out
        return out

    def cumulative(self, values: np.ndarray) -> np.ndarray:
        """Per row, the sum of ``values`` over its block up to it (in row order, as a window sum adds)."""
        return pd.Series(values).groupby(self.start).cumsum().to_numpy()

    def count(self, indicator: np.ndarray) -> np.ndarray:
        """Per row, how often a 0/1 ``indicator`` holds in its block up to it (exact, as float)."""
        c = np.r_[0, np.cumsum(indicator, dtype=np.int64)]
        return (c[self.index + 1] - c[self.start]).astype(np.float64)

    def recent_share(self, indicator: np.ndarray, m: int) -> np.ndarray:
        """At the running rows, the mean of a 0/1 ``indicator`` over the last ``m`` rows of their block (exact)."""
        c = np.r_[0, np.cumsum(indicator, dtype=np.int64)]
        first = np.maximum(self.keep + 1 - m, self.start[self.keep])
        return (c[self.keep + 1] - c[first]) / (self.keep + 1 - first)

    def last_time_where(self, mask: np.ndarray) -> pa.Array:
        """Per row, the time of the latest row of its block up to it where ``mask`` holds (null: none)."""
        latest = np.maximum.accumulate(np.where(mask, self.index, -1)) if len(mask) else np.zeros(0, dtype=np.int64)
        none = latest < self.start
        return pa.array(self.t[np.maximum(latest, 0)], type=pa.timestamp("ns"), mask=none)


def running_table(builder: Any, db: Database, con: Engine, s: _Stream, names: list[str]) -> pa.Table:
    """The running table :meth:`~relgraph.baselines.feature_batch._BatchTransform._running_table`
    gives for ``names``: one row per ``(anchor, time)`` of stream ``s`` (the last row of that time,
    whose running values include every row of it), ordered by anchor and time."""
    rows = stream_rows(db, con, s)
    exprs = builder._running_columns(s)
    cache = _COLUMNS.setdefault(db, {})
    prepared: _Rows | None = None
    columns = []
    for name in names:
        key = (s.sql, name, exprs[name])
        if key not in cache:
            prepared = prepared or _Rows(rows)
            cache[key] = _column(builder, s, prepared, name)
            while len(cache) > COLUMNS_KEPT:
                cache.pop(next(iter(cache)))
        columns.append(cache[key])
    prepared = prepared or _Rows(rows)
    keep = pa.array(prepared.keep)
    out = {"__anchor": rows.column("__anchor").take(keep), "__t": rows.column("__t").take(keep)}
    out.update({n: c for n, c in zip(names, columns)})
    return pa.table(out)


_NUMERIC = re.compile(r"x(\d+)_(n|s1|s2|min|max|last|mean_l(\d+)|min_l(\d+)|max_l(\d+)|std_l(\d+))$")
_DOMINANT = re.compile(r"d(\d+)_(s|tn|l(\d+))$")
_CATEGORY = re.compile(r"c(\d+)_(last|v(\d+)(?:_(tl|l(\d+)))?)$")


def _column(builder: Any, s: _Stream, r: _Rows, name: str) -> pa.Array:  # noqa: C901 - one branch per column kind
    """Running column ``name`` (as :meth:`_FeaturePlanning._running_columns` defines it) at the
    running rows (``r.keep``)."""
    k = r.keep
    if name == "__cnt":
        return pa.array((r.index - r.start + 1)[k])
    if name == "__tl":
        return pa.array(r.t[k], type=pa.timestamp("ns"))
    if name == "__tf":
        return pa.array(r.t[r.start][k], type=pa.timestamp("ns"))
    found = _NUMERIC.match(name)
    if found:
        column = s.numeric[int(found.group(1))]
        x = r.values(column)
        kind, missing = found.group(2), np.isnan(r.values(column))
        center = builder.centers_.get(s.name, {}).get(column, 0.0)
        if kind == "n":
            return pa.array(np.cumsum(~missing)[k] - np.r_[0, np.cumsum(~missing)][r.start[k]])
        if kind in ("s1", "s2"):
            d = np.where(missing, 0.0, x - center)
            return _floats(np.where(_seen(r, missing)[k], r.cumulative(d if kind == "s1" else d * d)[k], np.nan))
        if kind in ("min", "max"):
            fill = np.inf if kind == "min" else -np.inf
            acc = pd.Series(np.where(missing, fill, x)).groupby(r.start)
            v = (acc.cummin() if kind == "min" else acc.cummax()).to_numpy()[k]
            return _floats(np.where(np.isinf(v) & (v == fill), np.nan, v))
        if kind == "last":
            return _floats(x[k])
        return _floats(r.recent(column, builder.last_n)[kind])
    found = _DOMINANT.match(name)
    if found:
        column, value = list(builder.dominant_.get(s.name, {}).items())[int(found.group(1))]
        equal = r.values(column) == value  # NaN (NULL) is not equal: coalesce(x = v, FALSE)
        if found.group(2) == "s":
            return _floats(r.count(equal)[k])
        if found.group(2) == "tn":
            return r.last_time_where(~equal).take(pa.array(k))
        return _floats(r.recent_share(equal, int(found.group(3))))
    found = _CATEGORY.match(name)
    if found:
        column = s.categorical[int(found.group(1))]
        if found.group(2) == "last":
            return r.rows.column(column).take(pa.array(k)).combine_chunks()
        value = builder.categories_.get(s.name, {}).get(column, [])[int(found.group(3))]
        equal = r.equal(column, str(value))  # None (NULL) is not equal
        if found.group(4) is None:
            return _floats(r.count(equal)[k])
        if found.group(4) == "tl":
            return r.last_time_where(equal).take(pa.array(k))
        return _floats(r.recent_share(equal, int(found.group(5))))
    raise KeyError(f"running column {name!r}")


def _seen(r: _Rows, missing: np.ndarray) -> np.ndarray:
    """Per row, whether its block has a value up to it (a SQL sum over none is NULL)."""
    c = np.r_[0, np.cumsum(~missing)]
    return c[r.index + 1] > c[r.start]


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.float64), mask=np.isnan(values))
