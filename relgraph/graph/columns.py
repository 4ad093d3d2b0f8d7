"""Column features of each table, materialised by semantic type, and leakage-safe statistics.

``build_node_features`` turns a table's columns into raw arrays (:class:`NodeFeatures`) with no
statistic over rows: everything that depends on *which* rows exist (means, standard deviations,
the known categories, the most frequent multi-category values) lives in :class:`FeatureStats`,
computed by :func:`fit_feature_stats` from rows whose node time is at or before a cutoff only.
A model trained with the stats of its training cutoff never sees a normalisation shaped by the
future. :func:`normalize` applies the stats (matching categories by value, so stats fitted on
one graph apply to the graph of a later snapshot of the same database).

Shapes (N = rows of the table):

* ``numerical``   float32 [N, Fn]; NaN = missing.
* ``categorical`` int64 [N, Fc]; 0 = missing, code ``i`` = ``categorical_vocab[c][i - 1]``.
  Codes are assigned in order of first appearance in time (rows sorted by node time, ties in
  row order, unknown times last), so ``categorical_first_seen[c]`` (int64 [V + 1], seconds;
  ``ALWAYS`` for static tables and for code 0) is non-decreasing over codes ``1..V`` and the
  codes known at a cutoff are exactly ``1..k``.
* ``timestamp``   float64 [N, Ft]; seconds since epoch, NaN = missing.
* ``text``        float32 [N, Fx * D]; with the default ``"hash"`` encoder D = ``TEXT_DIM``: signed
  hashing of word uni/bi-grams, l2-normalised, times a fixed-seed Gaussian projection (stateless:
  nothing fitted); with ``"minilm"`` D = 384: pretrained sentence embeddings (``graph/text.py``).
* multi-categorical (e.g. Stack Exchange tags ``<a><b>``, ``a,b``, list columns), per column
  ``c``: ``multicategorical_rows[c]`` / ``multicategorical_codes[c]`` int64 [M] (row, value code)
  pairs, codes by first appearance in time like ``categorical`` (vocabulary and first-seen
  alike); :func:`normalize` turns them into a multi-hot over the ``MULTI_TOP_K`` values most
  frequent among rows at or before the cutoff.

``SType.KEY`` and ``SType.IGNORED`` columns are never features.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.database import Database
from relgraph.errors import ModelError, SchemaError
from relgraph.graph.seen import dominant_indicators, dominant_values, static_first_reference
from relgraph.graph.text import MINILM_DIM, check_text_encoder, encode_text_minilm
from relgraph.schema.model import SType
from relgraph.schema.times import parse_datetimes

#: First-seen time of values of static tables (and of the "missing" code): always known.
ALWAYS = np.iinfo(np.int64).min
#: Dense dimension of each text column's encoding.
TEXT_DIM = 32
#: Hash space of the text encoder before projection.
TEXT_HASH_FEATURES = 2**14
#: Seed of the text projection matrix: fixed so encodings are comparable across runs.
TEXT_PROJECTION_SEED = 20240607
#: Values kept per multi-categorical column (the most frequent by the cutoff).
MULTI_TOP_K = 32
#: Standardised numerical / timestamp values are clipped to +- this many standard deviations.
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
    multicategorical_names: list[str]
    multicategorical_vocab: list[list[str]]
    multicategorical_first_seen: list[np.ndarray]
    multicategorical_rows: list[np.ndarray]
    multicategorical_codes: list[np.ndarray]


@dataclass
class TableStats:
    """Statistics of one table from rows with node time <= cutoff (static tables: all rows).

    ``numerical_mean/std`` float64 [Fn] and ``timestamp_mean/std`` float64 [Ft] (mean 0 / std 1
    when a column has too few known values); ``categorical_values[c]``: the values seen by the
    cutoff, in code order; ``multicategorical_values[c]``: the (at most ``MULTI_TOP_K``) most
    frequent values by the cutoff, most frequent first; ``numerical_dominant[j]``: the dominant
    value of numerical column j by the cutoff, or None (``graph.seen.dominant_values``). Column
    names are kept so that stats applied to another schema fail loudly.
    """

    numerical_names: list[str]
    numerical_mean: np.ndarray
    numerical_std: np.ndarray
    timestamp_names: list[str]
    timestamp_mean: np.ndarray
    timestamp_std: np.ndarray
    categorical_names: list[str]
    categorical_values: list[list[Any]]
    multicategorical_names: list[str]
    multicategorical_values: list[list[str]]
    numerical_dominant: list[float | None] = field(default_factory=list)

    @property
    def categorical_cardinality(self) -> list[int]:
        """Embedding-table size per categorical column: missing, the seen values, one unseen bucket."""
        return [len(values) + 2 for values in self.categorical_values]

    @property
    def num_indicators(self) -> int:
        """Numerical columns with a dominant value (each gets an "equals it" indicator on request)."""
        return sum(v is not None for v in self.numerical_dominant)

    @property
    def multicategorical_dim(self) -> int:
        """Width of the normalised multi-hot block (all multi-categorical columns)."""
        return sum(len(values) for values in self.multicategorical_values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (arrays as lists), e.g. to save next to model weights."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableStats:
        arrays = {"numerical_mean", "numerical_std", "timestamp_mean", "timestamp_std"}
        return cls(**{k: (np.asarray(v, dtype=np.float64) if k in arrays else v) for k, v in data.items()})


@dataclass
class FeatureStats:
    """Per-table :class:`TableStats` fitted at ``cutoff`` (int64 seconds)."""

    cutoff: int
    tables: dict[str, TableStats] = field(default_factory=dict)

    def __getitem__(self, table: str) -> TableStats:
        return self.tables[table]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; :meth:`from_dict` restores it."""
        return {"cutoff": self.cutoff, "tables": {t: s.to_dict() for t, s in self.tables.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureStats:
        return cls(int(data["cutoff"]), {t: TableStats.from_dict(s) for t, s in data["tables"].items()})


@dataclass
class NormalizedFeatures:
    """Model-ready arrays of one table (N rows).

    ``numerical`` float32 [N, Fn]: standardised, clipped to +-``CLIP_STD``, missing -> 0, with
    ``numerical_missing`` float32 [N, Fn] (1 = missing). ``categorical`` int64 [N, Fc]: 0 missing,
    1..k the values seen by the cutoff, k + 1 unseen (``categorical_cardinality`` = k + 2).
    ``timestamp`` float64 [N, Ft]: raw seconds, NaN missing (models take parts / age relative to
    the seed); ``timestamp_scaled`` float32 [N, Ft] standardised like ``numerical`` (missing -> 0).
    ``text`` float32 as built. ``multicategorical`` float32 [N, multicategorical_dim] multi-hot over
    each column's ``multicategorical_values``.
    """

    numerical: np.ndarray
    numerical_missing: np.ndarray
    categorical: np.ndarray
    categorical_cardinality: list[int]
    timestamp: np.ndarray
    timestamp_scaled: np.ndarray
    text: np.ndarray
    multicategorical: np.ndarray


def columns_by_stype(spec: Any, column_names: list[str], table: str) -> dict[SType, list[str]]:
    """The schema's columns of ``table`` grouped by semantic type, each checked to be in the data."""
    by_stype: dict[SType, list[str]] = {}
    for col in spec.columns:
        if col.name not in column_names:
            raise SchemaError(
                f"schema names column {table}.{col.name}, which the data lacks: fix the schema file"
            )
        by_stype.setdefault(SType(col.stype), []).append(col.name)
    return by_stype


def build_node_features(
    db: Database, table: str, node_time: np.ndarray | None, text_encoder: str = "hash"
) -> NodeFeatures:
    """Materialise the feature columns of ``table``; ``node_time`` int64 seconds [N] or None (static).

    ``text_encoder``: ``"hash"`` (``TEXT_DIM`` per text column) or ``"minilm"`` (384 per column).
    """
    data = db.tables[table]
    n = data.num_rows
    by_stype = columns_by_stype(db.schema[table], data.column_names, table)

    def column(name: str) -> pa.Array:
        arr = data.column(name).combine_chunks()
        return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr

    row_times = node_time if node_time is not None else np.full(n, ALWAYS, dtype=np.int64)
    # Rows in order of time (unknown = NEVER last), ties in row order: defines "first appearance".
    time_order = np.argsort(row_times, kind="stable")

    num_names = by_stype.get(SType.NUMERICAL, [])
    numerical = np.empty((n, len(num_names)), dtype=np.float32)
    for j, name in enumerate(num_names):
        numerical[:, j] = _to_float(column(name), table, name)

    cat_names = by_stype.get(SType.CATEGORICAL, [])
    categorical = np.empty((n, len(cat_names)), dtype=np.int64)
    cat_vocab, cat_first = [], []
    for j, name in enumerate(cat_names):
        categorical[:, j], vocab, first = _first_appearance_codes(
            column(name), time_order, row_times[time_order]
        )
        cat_vocab.append(vocab)
        cat_first.append(first)

    ts_names = by_stype.get(SType.TIMESTAMP, [])
    timestamp = np.empty((n, len(ts_names)), dtype=np.float64)
    for j, name in enumerate(ts_names):
        timestamp[:, j] = _to_seconds(column(name), table, name)

    text_names = by_stype.get(SType.TEXT, [])
    width = text_dim(text_encoder)
    text = np.zeros((n, len(text_names) * width), dtype=np.float32)
    for j, name in enumerate(text_names):
        encoded = encode_text(column(name)) if text_encoder == "hash" else encode_text_minilm(column(name))
        text[:, j * width : (j + 1) * width] = encoded

    multi_names = by_stype.get(SType.MULTICATEGORICAL, [])
    rank = np.empty(n, dtype=np.int64)
    rank[time_order] = np.arange(n)
    multi_vocab, multi_first, multi_rows, multi_codes = [], [], [], []
    for name in multi_names:
        values, rows = split_multicategorical(column(name))
        pair_order = np.argsort(rank[rows], kind="stable")
        codes, vocab, first = _first_appearance_codes(values, pair_order, row_times[rows[pair_order]])
        multi_vocab.append([str(v) for v in vocab])
        multi_first.append(first)
        multi_rows.append(rows)
        multi_codes.append(codes)
    return NodeFeatures(
        num_rows=n,
        numerical=numerical,
        numerical_names=num_names,
        categorical=categorical,
        categorical_names=cat_names,
        categorical_vocab=cat_vocab,
        categorical_first_seen=cat_first,
        timestamp=timestamp,
        timestamp_names=ts_names,
        text=text,
        text_names=text_names,
        multicategorical_names=multi_names,
        multicategorical_vocab=multi_vocab,
        multicategorical_first_seen=multi_first,
        multicategorical_rows=multi_rows,
        multicategorical_codes=multi_codes,
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
    """Timestamps / dates / clock times / epoch numbers / parsable strings as float64 seconds (NaN missing)."""
    typ = arr.type
    if pa.types.is_timestamp(typ) or pa.types.is_time(typ):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[typ.unit]
        ints = pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False)
        return ints.astype(np.float64) / per_second
    if pa.types.is_date32(typ):
        return pc.cast(arr, pa.int32()).to_numpy(zero_copy_only=False).astype(np.float64) * 86_400.0
    if pa.types.is_date64(typ):
        return pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) / 1_000.0
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):  # Unix epoch seconds / ms / us, unit by magnitude
        times = parse_datetimes(arr)[0]
        seconds = times.view(np.int64).astype(np.float64) / 1e9
        seconds[np.isnat(times)] = np.nan
        return seconds
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


def _first_appearance_codes(
    values: pa.Array, order: np.ndarray, sorted_times: np.ndarray
) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Codes of ``values`` (0 = null) numbered in the order ``order`` visits them.

    ``sorted_times`` are the times of ``values.take(order)``. Returns codes int64 [len(values)],
    the vocabulary (code i -> vocab[i - 1]) and first-seen time per code int64 [V + 1].
    """
    encoded = pc.dictionary_encode(values.take(pa.array(order, type=pa.int64())))
    sorted_codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    codes = np.empty_like(sorted_codes)
    codes[order] = sorted_codes
    vocab = [_json_safe(v) for v in encoded.dictionary.to_pylist()]
    first_seen = np.full(len(vocab) + 1, ALWAYS, dtype=np.int64)
    present, first_pos = np.unique(sorted_codes, return_index=True)
    first_seen[present] = sorted_times[first_pos]
    first_seen[0] = ALWAYS
    return codes, vocab, first_seen


def split_multicategorical(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Flatten a list column or a delimited string column (``<a><b>``, ``a,b``, ``a|b``, ``a;b``).

    Returns (values: string array [M], row position of each value: int64 [M]); empty and null
    entries are dropped.
    """
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        text = pc.cast(arr, pa.string())
        if pc.any(pc.starts_with(text, "<")).as_py():
            arr = pc.split_pattern(pc.replace_substring_regex(text, r"^<|>$", ""), "><")
        else:
            arr = pc.split_pattern_regex(text, r"[,;|]")
    values = pc.utf8_trim_whitespace(pc.cast(pc.list_flatten(arr), pa.string()))
    rows = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    keep = pc.fill_null(pc.not_equal(values, ""), False).to_numpy(zero_copy_only=False)
    return pc.filter(values, pa.array(keep)), rows[keep]


def text_dim(text_encoder: str) -> int:
    """Width of one text column's encoding under ``text_encoder`` (:class:`ModelError` if unknown)."""
    check_text_encoder(text_encoder)
    return TEXT_DIM if text_encoder == "hash" else MINILM_DIM


_TEXT_PROJECTION: np.ndarray | None = None


def _text_projection() -> np.ndarray:
    """Fixed Gaussian projection float32 [TEXT_HASH_FEATURES, TEXT_DIM], created once per process."""
    global _TEXT_PROJECTION
    if _TEXT_PROJECTION is None:
        rng = np.random.default_rng(TEXT_PROJECTION_SEED)
        scale = 1.0 / np.sqrt(TEXT_DIM)
        _TEXT_PROJECTION = (rng.standard_normal((TEXT_HASH_FEATURES, TEXT_DIM)) * scale).astype(np.float32)
    return _TEXT_PROJECTION


#: (row, bucket) pairs projected at a time by ``encode_text``.
_TEXT_CHUNK = 1 << 16


def _terms(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Lower-cased words of 2+ letters/digits and adjacent-word bigrams, with the row of each term."""
    words = pc.split_pattern_regex(pc.utf8_lower(pc.cast(arr, pa.string())), r"[^\pL\pN_]+")
    tokens = pc.list_flatten(words)
    rows = pc.list_parent_indices(words).to_numpy(zero_copy_only=False).astype(np.int64)
    keep = pc.fill_null(pc.greater_equal(pc.utf8_length(tokens), 2), False).to_numpy(zero_copy_only=False)
    tokens, rows = pc.filter(tokens, pa.array(keep)), rows[keep]
    same_row = np.flatnonzero(rows[1:] == rows[:-1])
    bigrams = pc.binary_join_element_wise(
        tokens.take(pa.array(same_row)), tokens.take(pa.array(same_row + 1)), " "
    )
    return pa.concat_arrays([tokens, bigrams]), np.concatenate([rows, rows[same_row]])


def encode_text(arr: pa.Array) -> np.ndarray:
    """float32 [N, TEXT_DIM]: hashed word uni/bi-grams (signed, l2-normalised) times a fixed projection.

    The hashing trick of scikit-learn's ``HashingVectorizer`` done column-wise in Arrow/NumPy
    (crc32 of each distinct term picks its bucket and sign). Stateless (nothing fitted), so it
    cannot leak; missing or empty text encodes as zeros.
    """
    n = len(arr)
    terms, rows = _terms(arr)
    out = np.zeros((n, TEXT_DIM), dtype=np.float32)
    if len(terms) == 0:
        return out
    encoded = pc.dictionary_encode(terms)
    hashes = np.array([zlib.crc32(t.encode()) for t in encoded.dictionary.to_pylist()], dtype=np.int64)
    bucket = (hashes % TEXT_HASH_FEATURES)[encoded.indices.to_numpy()]
    sign = np.where((hashes >> 31) & 1, -1.0, 1.0)[encoded.indices.to_numpy()]
    # Sum signs per (row, bucket), then l2-normalise each row's hashed vector and project it.
    key = rows * TEXT_HASH_FEATURES + bucket
    order = np.argsort(key, kind="stable")
    key, sign = key[order], sign[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    value = np.add.reduceat(sign, starts)
    pair_row, pair_bucket = key[starts] // TEXT_HASH_FEATURES, key[starts] % TEXT_HASH_FEATURES
    norm = np.sqrt(np.bincount(pair_row, weights=value**2, minlength=n))
    weight = np.divide(value, norm[pair_row], out=np.zeros_like(value), where=norm[pair_row] > 0)
    projection = _text_projection()
    # Project in chunks of pairs: bounded memory instead of one [pairs, TEXT_DIM] temporary.
    for lo in range(0, len(pair_row), _TEXT_CHUNK):
        chunk_rows = pair_row[lo : lo + _TEXT_CHUNK]
        contributions = (
            weight[lo : lo + _TEXT_CHUNK, None].astype(np.float32)
            * projection[pair_bucket[lo : lo + _TEXT_CHUNK]]
        )
        row_starts = np.flatnonzero(np.r_[True, chunk_rows[1:] != chunk_rows[:-1]])
        out[chunk_rows[row_starts]] += np.add.reduceat(contributions, row_starts, axis=0)
    return out


def fit_feature_stats(graph: Any, cutoff_seconds: int, static_by_reference: bool = False) -> FeatureStats:
    """Normalisation statistics from rows with node time <= ``cutoff_seconds`` (static tables: all rows).

    ``graph`` is a :class:`~relgraph.graph.temporal_graph.TemporalGraph`. Rows with unknown time
    (``NEVER``) are never included. ``static_by_reference``: a static table's rows count only when
    a timed row at or before the cutoff references them (``graph.seen.static_seen_rows``), so the
    values of rows first used later are unseen (``graph.seen``).
    """
    cutoff = int(cutoff_seconds)
    stats = FeatureStats(cutoff=cutoff)
    for table, feats in graph.features.items():
        times = graph.node_time.get(table)
        first_reference = static_first_reference(graph, table) if static_by_reference else None
        if first_reference is not None:
            visible = first_reference <= cutoff
        else:
            visible = np.ones(feats.num_rows, dtype=bool) if times is None else times <= cutoff
        num_mean, num_std = _mean_std(feats.numerical[visible])
        ts_mean, ts_std = _mean_std(feats.timestamp[visible])
        if first_reference is not None:  # the values of the rows referenced by the cutoff, in code order
            cat_values = [
                [vocab[code - 1] for code in np.unique(feats.categorical[visible, c]) if code > 0]
                for c, vocab in enumerate(feats.categorical_vocab)
            ]
        else:  # first-seen times are non-decreasing over codes, so the seen values are a prefix
            cat_values = [
                vocab[: int(np.count_nonzero(first[1:] <= cutoff))]
                for vocab, first in zip(feats.categorical_vocab, feats.categorical_first_seen)
            ]
        multi_values = []
        for vocab, rows, codes in zip(
            feats.multicategorical_vocab, feats.multicategorical_rows, feats.multicategorical_codes
        ):
            counts = np.bincount(codes[visible[rows]], minlength=len(vocab) + 1)[1:]
            top = np.argsort(-counts, kind="stable")[:MULTI_TOP_K]
            multi_values.append([vocab[i] for i in top if counts[i] > 0])
        stats.tables[table] = TableStats(
            numerical_names=list(feats.numerical_names),
            numerical_mean=num_mean,
            numerical_std=num_std,
            timestamp_names=list(feats.timestamp_names),
            timestamp_mean=ts_mean,
            timestamp_std=ts_std,
            categorical_names=list(feats.categorical_names),
            categorical_values=cat_values,
            multicategorical_names=list(feats.multicategorical_names),
            multicategorical_values=multi_values,
            numerical_dominant=dominant_values(feats.numerical[visible]),
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


def normalize(
    features: NodeFeatures,
    stats: TableStats,
    table: str = "",
    indicators: bool = False,
) -> NormalizedFeatures:
    """Apply cutoff statistics to one table's raw features (see :class:`NormalizedFeatures`).

    Categories are matched by value, so ``stats`` may come from another graph of the same schema
    (e.g. the training snapshot). Raises :class:`ModelError` when the feature columns differ.
    ``indicators``: append to ``numerical`` one 0/1 column per dominant value ("equals it").
    """
    for kind in ("numerical", "timestamp", "categorical", "multicategorical"):
        have, want = getattr(features, f"{kind}_names"), getattr(stats, f"{kind}_names")
        if list(have) != list(want):
            raise ModelError(
                f"table {table or '?'}: {kind} columns {have} differ from the fitted ones {want}; "
                "use stats fitted on this schema"
            )
    numerical, numerical_missing = _standardize(features.numerical, stats.numerical_mean, stats.numerical_std)
    if indicators and stats.num_indicators:
        flags, flags_missing = dominant_indicators(features.numerical, stats.numerical_dominant)
        numerical = np.concatenate([numerical, flags], axis=1)
        numerical_missing = np.concatenate([numerical_missing, flags_missing], axis=1)
    timestamp_scaled, _ = _standardize(features.timestamp, stats.timestamp_mean, stats.timestamp_std)
    categorical = np.empty_like(features.categorical)
    for c, (vocab, seen) in enumerate(zip(features.categorical_vocab, stats.categorical_values)):
        categorical[:, c] = _code_lookup(vocab, seen, unseen=len(seen) + 1)[features.categorical[:, c]]
    blocks = []
    for vocab, rows, codes, top in zip(
        features.multicategorical_vocab,
        features.multicategorical_rows,
        features.multicategorical_codes,
        stats.multicategorical_values,
    ):
        # Column of each code in the multi-hot (0 = not among the top values).
        column = _code_lookup(vocab, top, unseen=0)[codes]
        block = np.zeros((features.num_rows, len(top) + 1), dtype=np.float32)
        block[rows, column] = 1.0
        blocks.append(block[:, 1:])
    multicategorical = (
        np.concatenate(blocks, axis=1) if blocks else np.zeros((features.num_rows, 0), np.float32)
    )
    return NormalizedFeatures(
        numerical=numerical,
        numerical_missing=numerical_missing,
        categorical=categorical,
        categorical_cardinality=stats.categorical_cardinality,
        timestamp=features.timestamp,
        timestamp_scaled=timestamp_scaled,
        text=features.text,
        multicategorical=multicategorical,
    )


def _code_lookup(vocab: list[Any], known: list[Any], unseen: int) -> np.ndarray:
    """int64 [len(vocab) + 1]: graph code -> 1 + position in ``known`` (0 -> 0; absent -> ``unseen``)."""
    position = {value: i + 1 for i, value in enumerate(known)}
    lookup = np.empty(len(vocab) + 1, dtype=np.int64)
    lookup[0] = 0
    lookup[1:] = [position.get(value, unseen) for value in vocab]
    return lookup


def _standardize(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    missing = np.isnan(values)
    scaled = np.clip((values.astype(np.float64) - mean) / std, -CLIP_STD, CLIP_STD)
    scaled[missing] = 0.0
    return scaled.astype(np.float32), missing.astype(np.float32)
