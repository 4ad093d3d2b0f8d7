"""On-disk cache of materialised graphs: one folder per key holding ``graph.npz`` + ``meta.json``.

No pickle anywhere: arrays go to an uncompressed ``.npz`` read with ``allow_pickle=False``,
names and vocabularies to JSON. The key hashes the data fingerprint, the schema (every
dataclass field, as JSON), the builder version and the feature-encoder settings (the text
encoder included), so changing any of them misses the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from relgraph.database import Database
from relgraph.graph import columns as feats_mod
from relgraph.graph import text as text_mod
from relgraph.graph.columns import NodeFeatures
from relgraph.graph.temporal_graph import EdgeType, TemporalGraph

logger = logging.getLogger(__name__)

#: Bump whenever the graph or feature layout changes, so stale caches are ignored.
GRAPH_CODE_VERSION = "graph-3"

_META = "meta.json"
_ARRAYS = "graph.npz"


def schema_hash(db: Database) -> str:
    """sha256 of the schema's dataclasses as canonical JSON."""
    payload = json.dumps(dataclasses.asdict(db.schema), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def graph_cache_key(db: Database, text_encoder: str = "hash") -> str:
    """Cache key of ``db``'s graph: fingerprint + schema + code version + encoder settings.

    ``text_encoder`` (``"hash"`` | ``"minilm"``) enters the key, so graphs of the two never mix;
    the ``"hash"`` key is the one used before the choice existed (its caches stay valid).
    """
    text: list[Any] = (
        [feats_mod.TEXT_DIM, feats_mod.TEXT_HASH_FEATURES, feats_mod.TEXT_PROJECTION_SEED]
        if text_encoder == "hash"
        else [text_encoder, text_mod.MINILM_PACKAGE, text_mod.MINILM_DIM, text_mod.MINILM_MAX_TOKENS]
    )
    settings = {
        "fingerprint": db.fingerprint,
        "schema": schema_hash(db),
        "version": GRAPH_CODE_VERSION,
        "text": text,
        "multi_top_k": feats_mod.MULTI_TOP_K,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]


def save_graph(graph: TemporalGraph, cache_dir: Path, key: str) -> Path:
    """Write ``graph`` under ``cache_dir/key`` atomically (temp folder, then rename)."""
    target = cache_dir / key
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tables = graph.node_types
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {
        "version": GRAPH_CODE_VERSION,
        "tables": tables,
        "num_nodes": [graph.num_nodes[t] for t in tables],
        "timed": [graph.node_time[t] is not None for t in tables],
        "edge_types": [list(et) for et in graph.edge_types],
        "dropped_edges": [[list(et), n] for et, n in graph.dropped_edges.items()],
        "features": [],
    }
    for i, table in enumerate(tables):
        times = graph.node_time[table]
        if times is not None:
            arrays[f"time_{i}"] = times
    for j, et in enumerate(graph.edge_types):
        arrays[f"edge_{j}"] = graph.edge_index[et]
    for i, table in enumerate(tables):
        f: NodeFeatures | None = graph.features.get(table)
        if f is None:
            meta["features"].append(None)
            continue
        for kind in ("numerical", "categorical", "timestamp", "text"):
            arrays[f"f{i}_{kind}"] = getattr(f, kind)
        for c, first in enumerate(f.categorical_first_seen):
            arrays[f"f{i}_catfirst_{c}"] = first
        for c in range(len(f.multicategorical_names)):
            arrays[f"f{i}_multifirst_{c}"] = f.multicategorical_first_seen[c]
            arrays[f"f{i}_multirows_{c}"] = f.multicategorical_rows[c]
            arrays[f"f{i}_multicodes_{c}"] = f.multicategorical_codes[c]
        meta["features"].append(
            {
                "num_rows": f.num_rows,
                "numerical_names": f.numerical_names,
                "categorical_names": f.categorical_names,
                "categorical_vocab": f.categorical_vocab,
                "timestamp_names": f.timestamp_names,
                "text_names": f.text_names,
                "multicategorical_names": f.multicategorical_names,
                "multicategorical_vocab": f.multicategorical_vocab,
            }
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))
    try:
        np.savez(tmp / _ARRAYS, **arrays)
        (tmp / _META).write_text(json.dumps(meta))
        os.replace(tmp, target)
    except OSError as err:
        # Another process may have written the same key meanwhile; the cache is only an optimisation.
        logger.warning("could not write graph cache %s: %s", target, err)
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_graph(cache_dir: Path, key: str) -> TemporalGraph | None:
    """The cached graph for ``key``, or None on a miss or an unreadable entry."""
    folder = cache_dir / key
    if not (folder / _META).exists():
        return None
    try:
        meta = json.loads((folder / _META).read_text())
        with np.load(folder / _ARRAYS, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        # Drop the broken entry so the rebuilt graph can take its place.
        logger.warning("removing unreadable graph cache %s: %s", folder, err)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    if meta.get("version") != GRAPH_CODE_VERSION:
        return None
    tables: list[str] = meta["tables"]
    edge_types: list[EdgeType] = [tuple(et) for et in meta["edge_types"]]  # type: ignore[misc]
    features: dict[str, NodeFeatures] = {}
    for i, (table, fm) in enumerate(zip(tables, meta["features"])):
        if fm is None:
            continue
        multi = range(len(fm["multicategorical_names"]))
        features[table] = NodeFeatures(
            num_rows=fm["num_rows"],
            numerical=arrays[f"f{i}_numerical"],
            numerical_names=fm["numerical_names"],
            categorical=arrays[f"f{i}_categorical"],
            categorical_names=fm["categorical_names"],
            categorical_vocab=fm["categorical_vocab"],
            categorical_first_seen=[
                arrays[f"f{i}_catfirst_{c}"] for c in range(len(fm["categorical_names"]))
            ],
            timestamp=arrays[f"f{i}_timestamp"],
            timestamp_names=fm["timestamp_names"],
            text=arrays[f"f{i}_text"],
            text_names=fm["text_names"],
            multicategorical_names=fm["multicategorical_names"],
            multicategorical_vocab=fm["multicategorical_vocab"],
            multicategorical_first_seen=[arrays[f"f{i}_multifirst_{c}"] for c in multi],
            multicategorical_rows=[arrays[f"f{i}_multirows_{c}"] for c in multi],
            multicategorical_codes=[arrays[f"f{i}_multicodes_{c}"] for c in multi],
        )
    return TemporalGraph(
        num_nodes=dict(zip(tables, meta["num_nodes"])),
        node_time={
            t: (arrays[f"time_{i}"] if timed else None)
            for i, (t, timed) in enumerate(zip(tables, meta["timed"]))
        },
        edge_index={et: arrays[f"edge_{j}"] for j, et in enumerate(edge_types)},
        dropped_edges={tuple(et): n for et, n in meta["dropped_edges"]},  # type: ignore[misc]
        features=features,
    )
