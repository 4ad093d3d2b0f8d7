"""Column features of each table, materialised by semantic type, and leakage-safe statistics.

``build_node_features`` turns a table's columns into raw arrays (:class:`NodeFeatures`), with no
statistic over rows: anything that depends on *which* rows exist (means, standard deviations,
the set of known categories) lives in :class:`FeatureStats`, computed by
:func:`fit_feature_stats` from rows whose node time is at or before a cutoff only. A model
trained with the stats of its training cutoff therefore never sees a normalisation shaped by
the future. :func:`normalize` applies the stats.

Shapes (N = rows of the table):

* ``numerical``        float32 [N, Fn]; NaN = missing.
* ``categorical``      int64 [N, Fc]; 0 = missing, code ``i`` = ``categorical_vocab[c][i - 1]``.
  Codes are assigned in order of first appearance in time (rows sorted by node time, then row
  order), so ``categorical_first_seen[c]`` (int64 [V + 1], seconds) is non-decreasing over codes
  ``1..V`` and the codes known at a cutoff are exactly ``1..k``.
* ``timestamp``        float64 [N, Ft]; seconds since epoch, NaN = missing.
* ``text``             float32 [N, Fx * TEXT_DIM]; hashed word uni/bi-grams, l2-normalised, then a
  fixed-seed Gaussian projection to ``TEXT_DIM`` per column (stateless: no fitted vocabulary).
* ``multicategorical`` float32 [N, sum(K_c)]; multi-hot over each column's ``MULTI_TOP_K`` most
  frequent values (``multicategorical_vocab``), ``multicategorical_first_seen`` per value.

``SType.KEY`` and ``SType.IGNORED`` columns are never features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.database import Database
from relgraph.errors import SchemaError
from relgraph.schema.model import SType

#: First-seen time of values of static tables (and of the "missing" code): always known.
ALWAYS = np.iinfo(np.int64).min
#: Dense dimension of each text column's encoding.
TEXT_DIM = 32
#: Hash space of the text encoder before projection.
TEXT_HASH_FEATURES = 2**14
#: Seed of the text projection matrix: fixed so encodings are comparable across runs.
TEXT_PROJECTION_SEED = 20240607
#: Values kept per multi-categorical column.
MULTI_TOP_K = 32
#: Normalised numerical / timestamp values are clipped to +- this many standard deviations.
CLIP_STD = 10.0


@dataclass
class NodeFeatures:
    """Raw feature arrays of one table (see the module docstring for shapes)."""

    num_rows: int
    numerical: np.ndarray
    numerical_names: list[str]
    categorical: np.ndarray
    categorical_names: list[str]
    categorical_vocab: list[list[Any]]
    categorical_first_seen: list[np.ndarray]
    timestamp: np.ndarray
    timestamp_names: list[str]
    text: np.ndarray
    text_names: list[str]
    multicategorical: np.ndarray
    multicategorical_names: list[str]
    multicategorical_vocab: list[list[str]]
    multicategorical_first_seen: list[np.ndarray]

    @property
    def multicategorical_slices(self) -> list[slice]:
        """Column range of each multi-categorical column in ``multicategorical``."""
        bounds = np.cumsum([0] + [len(v) for v in self.multicategorical_vocab])
        return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


@dataclass
class TableStats:
    """Statistics of one table from rows with node time <= cutoff (static tables: all rows).

    ``numerical_mean/std`` float64 [Fn]; ``timestamp_mean/std`` float64 [Ft] (std 1 when a column
    has < 2 known values); ``categorical_num_seen`` int64 [Fc]: codes ``1..k`` were seen by the
    cutoff; ``multicategorical_seen`` bool [K_c] per column.
    """

    numerical_mean: np.ndarray
    numerical_std: np.ndarray
    timestamp_mean: np.ndarray
    timestamp_std: np.ndarray
    categorical_num_seen: np.ndarray
    multicategorical_seen: list[np.ndarray]

    @property
    def categorical_cardinality(self) -> list[int]:
        """Embedding-table size per categorical column: missing, seen values, one unseen bucket."""
        return [int(k) + 2 for k in self.categorical_num_seen]


@dataclass
class FeatureStats:
    """Per-table :class:`TableStats` fitted at ``cutoff`` (int64 seconds)."""

    cutoff: int
    tables: dict[str, TableStats] = field(default_factory=dict)

    def __getitem__(self, table: str) -> TableStats:
        return self.tables[table]


@dataclass
class NormalizedFeatures:
    """Model-ready arrays of one table (N rows).

    ``numerical`` float32 [N, Fn] standardised, clipped to +-``CLIP_STD``, missing -> 0, with
    ``numerical_missing`` float32 [N, Fn] (1 = missing); same for ``timestamp``. ``categorical``
    int64 [N, Fc]: 0 missing, 1..k seen by the cutoff, k + 1 unseen (``categorical_cardinality``
    = k + 2). ``text`` as built; ``multicategorical`` with values unseen by the cutoff zeroed.
    """

    numerical: np.ndarray
    numerical_missing: np.ndarray
    categorical: np.ndarray
    categorical_cardinality: list[int]
    timestamp: np.ndarray
    timestamp_missing: np.ndarray
    text: np.ndarray
    multicategorical: np.ndarray


def build_node_features(db: Database, table: str, node_time: np.ndarray | None) -> NodeFeatures:
    """Materialise the feature columns of ``table``; ``node_time`` int64 seconds or None (static)."""
    data = db.tables[table]
    n = data.num_rows
    by_stype: dict[SType, list[str]] = {}
    for col in db.schema[table].columns:
        by_stype.setdefault(SType(col.stype), []).append(col.name)
    for names in by_stype.values():
        for name in names:
            if name not in data.column_names:
                raise SchemaError(
                    f"schema names column {table}.{name}, which the data lacks: fix the schema file"
                )

    def column(name: str) -> pa.Array:
        arr = data.column(name).combine_chunks()
        return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr

    # Rows in order of time (unknown last), ties in row order: defines "first appearance".
    time_order = np.argsort(node_time, kind="stable") if node_time is not None else np.arange(n)
    sorted_times = node_time[time_order] if node_time is not None else np.full(n, ALWAYS, dtype=np.int64)

    num_names = by_stype.get(SType.NUMERICAL, [])
    numerical = np.empty((n, len(num_names)), dtype=np.float32)
    for j, name in enumerate(num_names):
        numerical[:, j] = _to_float(column(name), table, name)

    cat_names = by_stype.get(SType.CATEGORICAL, [])
    categorical = np.empty((n, len(cat_names)), dtype=np.int64)
    vocabs: list[list[Any]] = []
    cat_first_seen: list[np.ndarray] = []
    for j, name in enumerate(cat_names):
        categorical[:, j], vocab, first = _encode_categorical(column(name), time_order, sorted_times)
        vocabs.append(vocab)
        cat_first_seen.append(first)

    ts_names = by_stype.get(SType.TIMESTAMP, [])
    timestamp = np.empty((n, len(ts_names)), dtype=np.float64)
    for j, name in enumerate(ts_names):
        timestamp[:, j] = _to_seconds(column(name), table, name)

    text_names = by_stype.get(SType.TEXT, [])
    text = np.zeros((n, len(text_names) * TEXT_DIM), dtype=np.float32)
    for j, name in enumerate(text_names):
        text[:, j * TEXT_DIM : (j + 1) * TEXT_DIM] = encode_text(column(name))

    multi_names = by_stype.get(SType.MULTICATEGORICAL, [])
    multi_blocks, multi_vocabs, multi_first = [], [], []
    times_by_row = node_time if node_time is not None else np.full(n, ALWAYS, dtype=np.int64)
    for name in multi_names:
        block, vocab, first = _encode_multicategorical(column(name), times_by_row)
        multi_blocks.append(block)
        multi_vocabs.append(vocab)
        multi_first.append(first)
    multicategorical = (
        np.concatenate(multi_blocks, axis=1) if multi_blocks else np.zeros((n, 0), dtype=np.float32)
    )
    return NodeFeatures(
        num_rows=n,
        numerical=numerical,
        numerical_names=num_names,
        categorical=categorical,
        categorical_names=cat_names,
        categorical_vocab=vocabs,
        categorical_first_seen=cat_first_seen,
        timestamp=timestamp,
        timestamp_names=ts_names,
        text=text,
        text_names=text_names,
        multicategorical=multicategorical,
        multicategorical_names=multi_names,
        multicategorical_vocab=multi_vocabs,
        multicategorical_first_seen=multi_first,
    )


def _to_float(arr: pa.Array, table: str, name: str) -> np.ndarray:
    """Numbers (or numeric text, booleans, decimals) as float64 with NaN for missing."""
    if pa.types.is_boolean(arr.type):
        arr = pc.cast(arr, pa.int8())
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        # Unparsable strings become missing rather than failing the whole build.
        series = pd.to_numeric(pd.Series(arr.to_numpy(zero_copy_only=False)), errors="coerce")
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        arr = pc.cast(arr, pa.float64(), safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise SchemaError(
            f"column {table}.{name} ({arr.type}) is typed numerical but is not numeric: "
            "set its stype in the schema file"
        ) from err
    return arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _to_seconds(arr: pa.Array, table: str, name: str) -> np.ndarray:
    """Timestamps / dates / clock times / parsable strings as float64 seconds (NaN missing)."""
    typ = arr.type
    if pa.types.is_timestamp(typ) or pa.types.is_time(typ):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[typ.unit]
        ints = pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False)
        return ints.astype(np.float64) / per_second
    if pa.types.is_date32(typ):
        return pc.cast(arr, pa.int32()).to_numpy(zero_copy_only=False).astype(np.float64) * 86_400.0
    if pa.types.is_date64(typ):
        return pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) / 1_000.0
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        return _to_float(arr, table, name)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        parsed = pd.to_datetime(
            pd.Series(arr.to_numpy(zero_copy_only=False)), errors="coerce", format="mixed", utc=True
        )
        nanos = parsed.to_numpy(dtype="datetime64[ns]").view(np.int64).astype(np.float64)
        nanos[parsed.isna().to_numpy()] = np.nan
        return nanos / 1e9
    raise SchemaError(f"column {table}.{name} ({typ}) is typed timestamp but holds no times: fix its stype")


def _json_safe(value: Any) -> Any:
    """Vocabulary values as JSON scalars (dates, decimals, bytes as text) so the cache stays pickle-free."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def _encode_categorical(
    arr: pa.Array, time_order: np.ndarray, sorted_times: np.ndarray
) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Codes (0 missing) in order of first appearance in time, vocabulary, first-seen per code."""
    encoded = pc.dictionary_encode(arr.take(pa.array(time_order)))
    sorted_codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    codes = np.empty_like(sorted_codes)
    codes[time_order] = sorted_codes
    vocab = [_json_safe(v) for v in encoded.dictionary.to_pylist()]
    first_seen = np.full(len(vocab) + 1, ALWAYS, dtype=np.int64)
    present, first_pos = np.unique(sorted_codes, return_index=True)
    first_seen[present] = sorted_times[first_pos]
    first_seen[0] = ALWAYS
    return codes, vocab, first_seen


def _split_multicategorical(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Flatten a list column or a delimited string column (``<a><b>``, ``a,b``, ``a|b``, ``a;b``)
    into (values, row position of each value)."""
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        text = pc.cast(arr, pa.string())
        if pc.any(pc.starts_with(text, "<")).as_py():
            arr = pc.split_pattern(pc.replace_substring_regex(text, r"^<|>$", ""), "><")
        else:
            arr = pc.split_pattern_regex(text, r"[,;|]")
    values = pc.utf8_trim_whitespace(pc.cast(pc.list_flatten(arr), pa.string()))
    rows = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    keep = pc.and_(pc.is_valid(values), pc.not_equal(values, "")).to_numpy(zero_copy_only=False)
    return pc.filter(values, pa.array(keep)), rows[keep]


def _encode_multicategorical(
    arr: pa.Array, row_times: np.ndarray
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Multi-hot [N, K] over the K most frequent values (ties by value), vocabulary, first-seen per value.

    The vocabulary choice looks at all rows; values first seen after a cutoff are zeroed by
    :func:`normalize` with that cutoff's stats, so their presence never leaks.
    """
    values, rows = _split_multicategorical(arr)
    counts = pc.value_counts(values)
    table = pa.table({"value": counts.field("values"), "count": counts.field("counts")})
    top = table.sort_by([("count", "descending"), ("value", "ascending")]).slice(0, MULTI_TOP_K)
    vocab = top.column("value").to_pylist()
    block = np.zeros((len(arr), len(vocab)), dtype=np.float32)
    first_seen = np.full(len(vocab), np.iinfo(np.int64).max, dtype=np.int64)
    if vocab:
        idx = pc.index_in(values, value_set=top.column("value").combine_chunks())
        hit = idx.is_valid().to_numpy(zero_copy_only=False)
        cols = pc.drop_null(idx).to_numpy().astype(np.int64)
        block[rows[hit], cols] = 1.0
        np.minimum.at(first_seen, cols, row_times[rows[hit]])
    return block, vocab, first_seen


_TEXT_PROJECTION: np.ndarray | None = None


def _text_projection() -> np.ndarray:
    global _TEXT_PROJECTION
    if _TEXT_PROJECTION is None:
        rng = np.random.default_rng(TEXT_PROJECTION_SEED)
        _TEXT_PROJECTION = (rng.standard_normal((TEXT_HASH_FEATURES, TEXT_DIM)) / np.sqrt(TEXT_DIM)).astype(
            np.float32
        )
    return _TEXT_PROJECTION


def encode_text(arr: pa.Array) -> np.ndarray:
    """float32 [N, TEXT_DIM]: hashed word uni/bi-grams (l2-normalised) times a fixed random projection.

    Stateless (no fitted vocabulary), so it cannot leak; missing text encodes as zeros.
    """
    from sklearn.feature_extraction.text import HashingVectorizer

    docs = pc.fill_null(pc.cast(arr, pa.string()), "").to_numpy(zero_copy_only=False)
    vectorizer = HashingVectorizer(
        n_features=TEXT_HASH_FEATURES, ngram_range=(1, 2), alternate_sign=True, norm="l2", dtype=np.float32
    )
    hashed = vectorizer.transform(docs)
    return np.asarray(hashed @ _text_projection(), dtype=np.float32)


def fit_feature_stats(graph: Any, cutoff_seconds: int) -> FeatureStats:
    """Normalisation statistics from rows with node time <= ``cutoff_seconds`` (static tables: all rows).

    ``graph`` is a :class:`~relgraph.graph.temporal_graph.TemporalGraph`. Rows with unknown time
    (``NEVER``) are never included.
    """
    cutoff = int(cutoff_seconds)
    stats = FeatureStats(cutoff=cutoff)
    for table, feats in graph.features.items():
        times = graph.node_time.get(table)
        visible = np.ones(feats.num_rows, dtype=bool) if times is None else times <= cutoff
        num_mean, num_std = _mean_std(feats.numerical[visible])
        ts_mean, ts_std = _mean_std(feats.timestamp[visible])
        num_seen = np.array(
            [int(np.count_nonzero(first[1:] <= cutoff)) for first in feats.categorical_first_seen],
            dtype=np.int64,
        )
        stats.tables[table] = TableStats(
            numerical_mean=num_mean,
            numerical_std=num_std,
            timestamp_mean=ts_mean,
            timestamp_std=ts_std,
            categorical_num_seen=num_seen,
            multicategorical_seen=[first <= cutoff for first in feats.multicategorical_first_seen],
        )
    return stats


def _mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean / std over non-NaN values in float64; 0 / 1 where a column has too few values."""
    values = values.astype(np.float64, copy=False)
    known = ~np.isnan(values)
    count = known.sum(axis=0)
    filled = np.where(known, values, 0.0)
    mean = np.divide(filled.sum(axis=0), count, out=np.zeros(values.shape[1]), where=count > 0)
    sq = np.where(known, (values - mean) ** 2, 0.0).sum(axis=0)
    var = np.divide(sq, count - 1, out=np.ones(values.shape[1]), where=count > 1)
    std = np.sqrt(var)
    std[~(std > 0)] = 1.0
    return mean, std


def normalize(features: NodeFeatures, stats: TableStats) -> NormalizedFeatures:
    """Apply cutoff statistics to one table's raw features (see :class:`NormalizedFeatures`)."""
    numerical, numerical_missing = _standardize(features.numerical, stats.numerical_mean, stats.numerical_std)
    timestamp, timestamp_missing = _standardize(features.timestamp, stats.timestamp_mean, stats.timestamp_std)
    num_seen = stats.categorical_num_seen[None, :]
    # Codes beyond those seen by the cutoff share one "unseen" bucket, k + 1.
    categorical = np.where(features.categorical > num_seen, num_seen + 1, features.categorical)
    multicategorical = features.multicategorical.copy()
    for sl, seen in zip(features.multicategorical_slices, stats.multicategorical_seen):
        multicategorical[:, sl] *= seen.astype(np.float32)[None, :]
    return NormalizedFeatures(
        numerical=numerical,
        numerical_missing=numerical_missing,
        categorical=categorical.astype(np.int64),
        categorical_cardinality=stats.categorical_cardinality,
        timestamp=timestamp,
        timestamp_missing=timestamp_missing,
        text=features.text,
        multicategorical=multicategorical,
    )


def _standardize(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    missing = np.isnan(values)
    scaled = np.clip((values.astype(np.float64) - mean) / std, -CLIP_STD, CLIP_STD)
    scaled[missing] = 0.0
    return scaled.astype(np.float32), missing.astype(np.float32)
