"""Sorted-row searches of the small-batch feature path (:mod:`~relgraph.baselines.feature_small`):
each anchor's block of rows sorted by time, the last row at or before a time for many rows at once,
and window minima / maxima over ranges of rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_DAY_NS = 86_400 * 10**9


@dataclass
class _AnchorIndex:
    """Rows of a table sorted by ``(__anchor, __t)``: each distinct anchor's block of rows and
    every row's time (int64 nanoseconds), for binary searches instead of a scan."""

    keys: np.ndarray  # distinct anchors, sorted
    lo: np.ndarray  # first row of each key's block
    hi: np.ndarray  # one past its last row
    times: np.ndarray
    type: pa.DataType
    _keys: np.ndarray | None = None  # per row: block ordinal * (distinct times + 1) + time rank
    _distinct: np.ndarray | None = None  # distinct times, sorted
    _starts: np.ndarray | None = None  # block starts in row order

    @classmethod
    def of(cls, table: pa.Table) -> _AnchorIndex:
        anchors = table.column("__anchor").to_numpy(zero_copy_only=False)
        n = len(anchors)
        starts = np.flatnonzero(np.r_[True, anchors[1:] != anchors[:-1]]) if n else np.zeros(0, dtype=np.int64)
        ends = np.r_[starts[1:], n] if n else starts
        order = np.argsort(anchors[starts], kind="stable")
        times = _nanoseconds(table.column("__t"))
        return cls(anchors[starts][order], starts[order], ends[order], times, table.schema.field("__anchor").type)

    def blocks(self, anchors: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
        """Row bounds ``[lo, hi)`` of each anchor's block (empty where it has none); None when the
        anchors cannot be compared with the index's (then the batch path decides)."""
        if anchors.type != self.type:
            both_int = pa.types.is_integer(anchors.type) and pa.types.is_integer(self.type)
            both_text = pa.types.is_string(anchors.type) and pa.types.is_string(self.type)
            if not (both_int or both_text):
                return None
            anchors = pc.cast(anchors, self.type)
        valid = pc.is_valid(anchors).to_numpy(zero_copy_only=False)
        values = anchors.to_numpy(zero_copy_only=False)
        lo = np.zeros(len(values), dtype=np.int64)
        hi = np.zeros(len(values), dtype=np.int64)
        if len(self.keys) and valid.any():
            probe = values[valid]
            at = np.minimum(np.searchsorted(self.keys, probe), len(self.keys) - 1)
            found = self.keys[at] == probe
            lo[np.flatnonzero(valid)[found]] = self.lo[at[found]]
            hi[np.flatnonzero(valid)[found]] = self.hi[at[found]]
        return lo, hi

    def last_at_or_before(self, lo: np.ndarray, hi: np.ndarray, times: np.ndarray) -> pa.Array:
        """Per row, the position of the last indexed row of its block with time ≤ its time (null: none)."""
        out = self._searched(lo, hi, times)
        return pa.array(out - 1, mask=out <= lo)

    def rows_within(self, lo: np.ndarray, hi: np.ndarray, times: np.ndarray, days: int) -> np.ndarray:
        """Positions of indexed rows of each row's block with time in ``(t - days, t]``."""
        a, b = self.window(lo, hi, times, days)
        return np.unique(_ranges(a, b))

    def window(self, lo: np.ndarray, hi: np.ndarray, times: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the bounds ``[a, b)`` of its block's rows with time in ``(t - days, t]``."""
        return self._searched(lo, hi, times - days * _DAY_NS), self._searched(lo, hi, times)

    def _searched(self, lo: np.ndarray, hi: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Per row, one past the last row of its block ``[lo, hi)`` with time ≤ its time (``lo``
        where none): one binary search over all blocks at once, on keys (block, rank of time)."""
        if self._keys is None:
            # Blocks are contiguous and each sorted by time: (block ordinal, time rank) grows along the rows.
            self._distinct = np.unique(self.times)
            ordinal = np.cumsum(np.r_[False, self._row_anchor_changes()]) if len(self.times) else np.zeros(0, np.int64)
            self._starts = np.sort(self.lo)
            self._keys = ordinal * (len(self._distinct) + 1) + np.searchsorted(self._distinct, self.times)
        out = lo.copy()
        some = np.flatnonzero(hi > lo)
        if len(some):
            ordinal = np.searchsorted(self._starts, lo[some])
            rank = np.searchsorted(self._distinct, times[some], side="right") - 1
            found = np.searchsorted(self._keys, ordinal * (len(self._distinct) + 1) + rank, side="right")
            out[some] = np.clip(found, lo[some], hi[some])
        return out

    def _row_anchor_changes(self) -> np.ndarray:
        """Per row after the first, whether it starts a block."""
        starts = np.zeros(len(self.times), dtype=bool)
        starts[self.lo] = True
        return starts[1:]


def _ranges(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The positions of every range ``[a_i, b_i)``, concatenated."""
    lengths = np.maximum(b - a, 0)
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(a)), lengths)
    first = np.cumsum(lengths) - lengths
    return a[owner] + np.arange(total, dtype=np.int64) - first[owner]


def range_extreme(values: np.ndarray, a: np.ndarray, b: np.ndarray, agg: str) -> np.ndarray:
    """Per range ``[a_i, b_i)`` of ``values``, its min or max ignoring NaN (SQL's NULL); NaN where
    the range holds no value (:class:`RangeExtremes`, for one call)."""
    return RangeExtremes(values)(a, b, agg)


class RangeExtremes:
    """Min / max of one column's values over ranges of rows, with what does not depend on the
    ranges (which rows hold a value, the values with NULL as +-inf) computed once per column."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self._valid: np.ndarray | None = None
        self._counts: np.ndarray | None = None
        self._filled: dict[str, np.ndarray] = {}

    def __call__(self, a: np.ndarray, b: np.ndarray, agg: str) -> np.ndarray:
        """Per range ``[a_i, b_i)``, its min or max ignoring NaN (SQL's NULL); NaN where the range
        holds no value. One ``reduceat`` over the ranges sorted by start (linear in the values and
        the ranges' lengths)."""
        out = np.full(len(a), np.nan)
        if self._valid is None or self._counts is None:
            self._valid = ~np.isnan(self.values)
            self._counts = np.r_[0, np.cumsum(self._valid)]
        valid, counts = self._valid, self._counts
        has = np.flatnonzero((b > a) & (counts[np.maximum(b, a)] > counts[a]))
        if not len(has):
            return out
        has = has[np.argsort(a[has], kind="stable")]
        if agg not in self._filled:  # the sentinel: b may be len
            self._filled[agg] = np.r_[np.where(valid, self.values, np.inf if agg == "min" else -np.inf), 0.0]
        bounds = np.empty(2 * len(has), dtype=np.int64)
        bounds[0::2], bounds[1::2] = a[has], b[has]
        out[has] = (np.minimum if agg == "min" else np.maximum).reduceat(self._filled[agg], bounds)[0::2]
        return out


def _nanoseconds(times: pa.ChunkedArray) -> np.ndarray:
    """Timestamps as int64 nanoseconds."""
    return pc.cast(pc.cast(times, pa.timestamp("ns")), pa.int64()).to_numpy(zero_copy_only=False)
