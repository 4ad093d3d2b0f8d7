"""A :class:`TemporalGraph` built chunk by chunk into memory-mapped ``.npy`` files (graphs beyond RAM).

:func:`build_graph_mmap` reads a database's tables (Arrow tables of a :class:`Database`, or a
folder of Parquet files read in record-batch chunks by :func:`build_graph_mmap_parquet`) and
writes into one folder of the graph cache:

* node times, int64 seconds per table (``NEVER`` unknown), as in :func:`build_graph`;
* per foreign key the forward and reverse ``edge_index`` (same values and order as
  :func:`build_graph`) and, per edge type, the sampler's CSR (``indptr``, ``neighbor``,
  ``neighbor_time``: grouped by destination, sorted by (destination, source time, edge
  position), sources with time ``NEVER`` dropped), so :class:`~relgraph.sampling.TemporalSampler`
  adopts it (``graph.csr``) instead of sorting the edges again;
* the encoded node features (:class:`NodeFeatures`, encodings identical to the in-memory builder).

Every array is then reopened with ``mmap_mode="r"``: the graph's arrays live in the page cache,
not on the heap. Foreign keys are matched chunk by chunk against one sorted array of parent keys
per parent table (a binary search; non-integer keys fall back to Arrow's ``index_in``). Memory
at build time: one chunk, plus per table a few whole columns where an encoding needs the whole
column at once (the time column, and per categorical / timestamp / multi-categorical column the
column and its time order: codes are numbered by first appearance in time), plus for each
foreign key the child's time order (int64 per child row) and the parent key array. Numerical
and text columns, key matching and the CSR scatter go chunk by chunk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from relgraph.database import Database
from relgraph.errors import SchemaError
from relgraph.graph import columns as cols
from relgraph.graph.build import _common_key_type, build_graph, node_times_seconds
from relgraph.graph.cache import GRAPH_CODE_VERSION, graph_cache_key
from relgraph.graph.columns import NodeFeatures
from relgraph.graph.temporal_graph import NEVER, EdgeType, TemporalGraph, reverse_relation
from relgraph.graph.text import check_text_encoder, encode_text_minilm
from relgraph.schema.model import Schema, SType
from relgraph.schema.times import resolve_row_times, time_columns

logger = logging.getLogger(__name__)

#: Rows per chunk read, matched and encoded at a time.
CHUNK_ROWS = 1 << 20
#: Version of the folder layout (with the graph code version, part of the cache key).
MMAP_VERSION = "mmap-1"
_META = "meta.json"


# ---- table sources ---------------------------------------------------------------------------------
class _Source:
    """One table: its row count, whole columns and record-batch chunks."""

    num_rows: int
    column_names: list[str]

    def column(self, name: str) -> pa.Array:
        raise NotImplementedError

    def chunks(self, name: str, chunk_rows: int) -> Iterator[pa.Array]:
        raise NotImplementedError


def _plain(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


class _ArrowSource(_Source):
    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.num_rows = table.num_rows
        self.column_names = table.column_names

    def column(self, name: str) -> pa.Array:
        return _plain(self.table.column(name))

    def chunks(self, name: str, chunk_rows: int) -> Iterator[pa.Array]:
        col = self.table.column(name)
        for lo in range(0, self.num_rows, chunk_rows):
            yield _plain(col.slice(lo, chunk_rows))


class _ParquetSource(_Source):
    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.num_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
        self.column_names = pq.ParquetFile(paths[0]).schema_arrow.names

    def column(self, name: str) -> pa.Array:
        return _plain(pa.chunked_array([pq.read_table(p, columns=[name]).column(0) for p in self.paths]))

    def chunks(self, name: str, chunk_rows: int) -> Iterator[pa.Array]:
        for path in self.paths:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=[name]):
                yield _plain(batch.column(0))

    def table(self, names: list[str]) -> pa.Table:
        return pa.concat_tables([pq.read_table(p, columns=names) for p in self.paths])


def parquet_tables(folder: str | Path) -> dict[str, list[Path]]:
    """Parquet files per table of ``folder``: ``<name>.parquet`` or a folder ``<name>/`` of parts."""
    folder = Path(folder)
    out: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in (".parquet", ".pq"):
            out[path.stem] = [path]
        elif path.is_dir():
            parts = sorted(p for p in path.iterdir() if p.suffix.lower() in (".parquet", ".pq"))
            if parts:
                out[path.name] = parts
    return out


# ---- public builders -------------------------------------------------------------------------------
#: Graph storages: ``"memory"`` (:func:`~relgraph.graph.build_graph`, npz cache), ``"mmap"``
#: (:func:`build_graph_mmap`), ``"auto"`` (mmap from ``AUTO_MMAP_ROWS`` rows in all tables on).
GRAPH_STORAGES = ("memory", "mmap", "auto")
AUTO_MMAP_ROWS = 5_000_000


def graph_for(
    db: Database, storage: str = "memory", cache_dir: str | Path | None = ".relgraph_cache", text_encoder: str = "hash"
) -> TemporalGraph:
    """The graph of ``db`` in the chosen storage (see ``GRAPH_STORAGES``)."""
    if storage not in GRAPH_STORAGES:
        raise SchemaError(f"graph storage {storage!r} is unknown; use one of {', '.join(GRAPH_STORAGES)}")
    if storage == "auto":
        rows = sum(db.tables[name].num_rows for name in db.schema.table_names)
        storage = "mmap" if rows >= AUTO_MMAP_ROWS else "memory"
    if storage == "mmap":
        return build_graph_mmap(db, cache_dir=cache_dir, text_encoder=text_encoder)
    return build_graph(db, cache_dir=cache_dir, text_encoder=text_encoder)


def build_graph_mmap(
    db: Database,
    cache_dir: str | Path | None = ".relgraph_cache",
    text_encoder: str = "hash",
    chunk_rows: int = CHUNK_ROWS,
) -> TemporalGraph:
    """:func:`~relgraph.graph.build_graph` for ``db``, its arrays memory-mapped from ``cache_dir``.

    Same nodes, times, edges and features as the in-memory graph, plus ``graph.csr`` (the
    sampler's adjacency, precomputed). Cached under ``cache_dir/mmap-<key>`` (same key as the
    in-memory cache); ``cache_dir=None`` builds into a temporary folder.
    """
    check_text_encoder(text_encoder)
    key = "mmap-" + graph_cache_key(db, text_encoder)
    sources: dict[str, _Source] = {name: _ArrowSource(db.tables[name]) for name in db.schema.table_names}
    return _cached_build(
        sources, db.schema, lambda: {n: db.row_times(n) for n in sources}, cache_dir, key, text_encoder, chunk_rows
    )


def build_graph_mmap_parquet(
    folder: str | Path,
    schema: Schema,
    cache_dir: str | Path | None = ".relgraph_cache",
    text_encoder: str = "hash",
    chunk_rows: int = CHUNK_ROWS,
) -> TemporalGraph:
    """The graph of a folder of Parquet files (one file or folder of parts per table) under ``schema``,
    read in chunks of ``chunk_rows`` rows: never a whole table in memory (see the module docstring)."""
    check_text_encoder(text_encoder)
    files = parquet_tables(folder)
    missing = [name for name in schema.table_names if name not in files]
    if missing:
        raise SchemaError(f"no Parquet file for table(s) {missing} in {folder}; write them or drop them from the schema")
    sources: dict[str, _Source] = {name: _ParquetSource(files[name]) for name in schema.table_names}
    stamp = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for name in sorted(sources) for p in files[name]]
    settings = {"files": stamp, "schema": schema_hash_of(schema), "version": GRAPH_CODE_VERSION, "text": text_encoder}
    key = "mmap-pq-" + hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]

    def times() -> dict[str, np.ndarray | None]:
        return _parquet_row_times(sources, schema)  # type: ignore[arg-type]

    return _cached_build(sources, schema, times, cache_dir, key, text_encoder, chunk_rows)


def schema_hash_of(schema: Schema) -> str:
    """sha256 of the schema's dataclasses as canonical JSON (as :func:`~relgraph.graph.cache.schema_hash`)."""
    return hashlib.sha256(json.dumps(dataclasses.asdict(schema), sort_keys=True, default=str).encode()).hexdigest()


def _parquet_row_times(sources: dict[str, _ParquetSource], schema: Schema) -> dict[str, np.ndarray | None]:
    """Row times read from only the columns they need (time columns, inherited-via keys, parent keys)."""
    needed: dict[str, set[str]] = {}
    for name, ts in schema.tables.items():
        if ts.time is None:
            continue
        needed.setdefault(name, set()).update(time_columns(ts.time))
        if ts.time.inherited_via is not None:
            fk = next(f for f in ts.foreign_keys if f.column == ts.time.inherited_via)
            needed[name].add(fk.column)
            needed.setdefault(fk.references_table, set()).add(fk.references_column)
    tables = {name: sources[name].table(sorted(names)) for name, names in needed.items()}
    resolved = resolve_row_times(tables, schema)
    return {name: resolved.get(name) for name in sources}


# ---- build -----------------------------------------------------------------------------------------
def _cached_build(
    sources: dict[str, _Source],
    schema: Schema,
    row_times: Any,
    cache_dir: str | Path | None,
    key: str,
    text_encoder: str,
    chunk_rows: int,
) -> TemporalGraph:
    if cache_dir is None:
        cache_dir = Path(tempfile.mkdtemp(prefix="relgraph-mmap-"))
    cache_dir = Path(cache_dir)
    target = cache_dir / key
    if (target / _META).exists():
        graph = load_graph_mmap(target)
        if graph is not None:
            return graph
        shutil.rmtree(target, ignore_errors=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))
    try:
        _Builder(tmp, sources, schema, text_encoder, chunk_rows).build(row_times)
        os.replace(tmp, target)
    except OSError:
        if not (target / _META).exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process wrote the same key meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    graph = load_graph_mmap(target)
    assert graph is not None
    return graph


class _Builder:
    def __init__(self, folder: Path, sources: dict[str, _Source], schema: Schema, text_encoder: str,
                 chunk_rows: int) -> None:
        self.folder, self.sources, self.schema = folder, sources, schema
        self.text_encoder, self.chunk = text_encoder, max(1, int(chunk_rows))
        self.meta: dict[str, Any] = {"version": MMAP_VERSION, "graph_version": GRAPH_CODE_VERSION,
                                     "tables": list(sources), "edges": [], "features": {}}
        self.times: dict[str, np.ndarray | None] = {}
        self._orders: dict[str, np.ndarray] = {}

    def time_order(self, table: str) -> np.ndarray:
        """Rows of timed ``table`` in (time, row) order: sorted once per table (the foreign keys
        and the category codes of a table share it), kept as a scratch file read memory-mapped."""
        if table not in self._orders:
            path = self.folder / f"_order_{len(self._orders)}.npy"
            np.save(path, np.argsort(np.asarray(self.times[table]), kind="stable"))
            self._orders[table] = np.load(path, mmap_mode="r")
        return self._orders[table]

    def array(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.lib.format.open_memmap(self.folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)

    def build(self, row_times: Any) -> None:
        tables = list(self.sources)
        self.meta["num_nodes"] = [self.sources[t].num_rows for t in tables]
        times = row_times()
        self.meta["timed"] = []
        for i, table in enumerate(tables):
            seconds = node_times_seconds(times.get(table))
            times[table] = None  # free the datetime64 copy
            self.meta["timed"].append(seconds is not None)
            if seconds is not None:
                out = self.array(f"time_{i}", seconds.shape, np.int64)
                out[:] = seconds
                out.flush()
                del seconds
                self.times[table] = np.load(self.folder / f"time_{i}.npy", mmap_mode="r")
            else:
                self.times[table] = None
        for child, fk in self.schema.edges():
            if fk.references_table not in self.sources:
                raise SchemaError(
                    f"foreign key {child}.{fk.column} references missing table {fk.references_table!r}: "
                    "fix or remove it in the schema file"
                )
            self._foreign_key(child, fk.column, fk.references_table, fk.references_column)
        if any(True for _ in self.schema.composite_edges()):
            raise SchemaError(
                "the memory-mapped graph does not handle composite foreign keys yet: use the in-memory graph"
            )
        for i, table in enumerate(tables):
            self.meta["features"][table] = self._features(i, table)
        for path in self.folder.glob("_order_*.npy"):  # scratch, not part of the graph
            path.unlink()
        self._orders.clear()
        (self.folder / _META).write_text(json.dumps(self.meta))

    # ---- edges -----------------------------------------------------------------------------------
    def _foreign_key(self, child: str, column: str, parent: str, parent_column: str) -> None:
        for table, col in ((child, column), (parent, parent_column)):
            if col not in self.sources[table].column_names:
                raise SchemaError(
                    f"foreign key {child}.{column} -> {parent}.{parent_column}: column {table}.{col} "
                    "does not exist; fix the schema file"
                )
        j = len(self.meta["edges"])
        n_child, n_parent = self.sources[child].num_rows, self.sources[parent].num_rows
        matcher = _KeyMatcher(self.sources[parent].column(parent_column), f"{child}.{column}", f"{parent}.{parent_column}")
        # parent row of every child row (-1: null or dangling), chunk by chunk
        parent_of = self.array(f"e{j}_parent_of", (n_child,), np.int64)
        lo = 0
        for keys in self.sources[child].chunks(column, self.chunk):
            parent_of[lo : lo + len(keys)] = matcher.rows(keys)
            lo += len(keys)
        del matcher
        matched = 0
        for lo in range(0, n_child, self.chunk):
            matched += int(np.count_nonzero(parent_of[lo : lo + self.chunk] >= 0))
        forward: EdgeType = (child, column, parent)
        reverse: EdgeType = (parent, reverse_relation(column), child)
        dropped = n_child - matched
        if dropped:
            logger.info("%s.%s -> %s: %d of %d values null or dangling, edges dropped", child, column, parent,
                        dropped, n_child)
        # forward edge_index: matched child rows ascending
        fwd = self.array(f"e{j}_forward", (2, matched), np.int64)
        out = 0
        for lo in range(0, n_child, self.chunk):
            block = parent_of[lo : lo + self.chunk]
            rows = np.flatnonzero(block >= 0)
            fwd[0, out : out + len(rows)] = rows + lo
            fwd[1, out : out + len(rows)] = block[rows]
            out += len(rows)
        fwd.flush()
        # reverse edge_index: grouped by parent row, children in row order (a stable sort by parent)
        counts = self._bincount(parent_of, n_parent)
        rev = self.array(f"e{j}_reverse", (2, matched), np.int64)

        def write_reverse(pos: np.ndarray, items: np.ndarray, groups: np.ndarray) -> None:
            rev[0, pos] = groups
            rev[1, pos] = items

        _scatter_grouped(parent_of, self._ranges(n_child), counts, write_reverse)
        rev.flush()
        # sampler CSR of the forward type: per parent its children by (time, row); NEVER children dropped
        child_time = self.times[child]
        if child_time is None:
            eligible_counts, visit = counts, self._ranges(n_child)
        else:
            eligible_counts = self._bincount(parent_of, n_parent, child_time)
            keep = sum(int(np.count_nonzero(child_time[lo : lo + self.chunk] < NEVER))
                       for lo in range(0, n_child, self.chunk))
            order = self.time_order(child)[:keep]  # NEVER (no time) sorts last
            visit = (order[lo : lo + self.chunk] for lo in range(0, len(order), self.chunk))
        self._csr(f"c{j}_f", eligible_counts, parent_of, visit, child_time)
        del visit
        # sampler CSR of the reverse type: per child its parent (when the parent is eligible)
        parent_time = self.times[parent]
        indptr = self.array(f"c{j}_r_indptr", (n_child + 1,), np.int64)
        indptr[0] = 0
        total = 0

        def eligible(parents: np.ndarray, lo: int) -> tuple[np.ndarray, np.ndarray]:
            """Parents of the children in chunk ``lo`` and which of them are sampled (known, timed)."""
            block = np.asarray(parents[lo : lo + self.chunk])
            ok = block >= 0
            if parent_time is not None:
                ok &= np.asarray(parent_time)[np.where(ok, block, 0)] != NEVER
            return block, ok

        for lo in range(0, n_child, self.chunk):
            block, ok = eligible(parent_of, lo)
            indptr[lo + 1 : lo + 1 + len(block)] = total + np.cumsum(ok)
            total += int(ok.sum())
        neighbor = self.array(f"c{j}_r_neighbor", (total,), np.int64)
        ntime = self.array(f"c{j}_r_time", (total + 1,), np.int64) if parent_time is not None else None
        out = 0
        for lo in range(0, n_child, self.chunk):
            block, ok = eligible(parent_of, lo)
            values = block[ok]
            neighbor[out : out + len(values)] = values
            if ntime is not None:
                ntime[out : out + len(values)] = np.asarray(parent_time)[values]
            out += len(values)
        if ntime is not None:
            ntime[total] = NEVER
            ntime.flush()
        indptr.flush()
        neighbor.flush()
        self.meta["edges"].append({
            "forward": list(forward), "reverse": list(reverse), "dropped": dropped,
            "forward_max_degree": int(eligible_counts.max()) if len(eligible_counts) else 0,
            "forward_timed": child_time is not None,
            "reverse_max_degree": 1 if total else 0,
            "reverse_timed": parent_time is not None,
        })
        del parent_of
        (self.folder / f"e{j}_parent_of.npy").unlink()

    def _ranges(self, n: int) -> Iterator[np.ndarray]:
        return (np.arange(lo, min(n, lo + self.chunk), dtype=np.int64) for lo in range(0, n, self.chunk))

    def _bincount(self, groups: np.ndarray, n: int, times: np.ndarray | None = None) -> np.ndarray:
        counts = np.zeros(n, dtype=np.int64)
        for lo in range(0, len(groups), self.chunk):
            block = np.asarray(groups[lo : lo + self.chunk])
            ok = block >= 0
            if times is not None:
                ok &= np.asarray(times[lo : lo + self.chunk]) != NEVER
            counts += np.bincount(block[ok], minlength=n)
        return counts

    def _csr(self, prefix: str, counts: np.ndarray, groups: np.ndarray, visit: Iterator[np.ndarray],
             times: np.ndarray | None) -> None:
        indptr = self.array(f"{prefix}_indptr", (len(counts) + 1,), np.int64)
        indptr[0] = 0
        np.cumsum(counts, out=indptr[1:])
        total = int(indptr[-1])
        neighbor = self.array(f"{prefix}_neighbor", (total,), np.int64)
        ntime = self.array(f"{prefix}_time", (total + 1,), np.int64) if times is not None else None

        def write(pos: np.ndarray, items: np.ndarray, _groups: np.ndarray) -> None:
            neighbor[pos] = items
            if ntime is not None:
                ntime[pos] = np.asarray(times)[items]  # type: ignore[index]

        _scatter_grouped(groups, visit, counts, write)
        if ntime is not None:
            ntime[total] = NEVER
            ntime.flush()
        neighbor.flush()
        indptr.flush()

    # ---- features --------------------------------------------------------------------------------
    def _features(self, i: int, table: str) -> dict[str, Any]:
        source = self.sources[table]
        n = source.num_rows
        by_stype = cols.columns_by_stype(self.schema[table], source.column_names, table)
        times = self.times[table]
        meta: dict[str, Any] = {"num_rows": n}

        num_names = by_stype.get(SType.NUMERICAL, [])
        numerical = self.array(f"f{i}_numerical", (n, len(num_names)), np.float32)
        for j, name in enumerate(num_names):
            lo = 0
            for chunk in source.chunks(name, self.chunk):
                numerical[lo : lo + len(chunk), j] = cols._to_float(chunk, table, name)
                lo += len(chunk)
        numerical.flush()
        meta["numerical_names"] = num_names

        cat_names = by_stype.get(SType.CATEGORICAL, [])
        categorical = self.array(f"f{i}_categorical", (n, len(cat_names)), np.int64)
        meta["categorical_names"], meta["categorical_vocab"] = cat_names, []
        if cat_names:
            row_times = np.asarray(times) if times is not None else np.full(n, cols.ALWAYS, dtype=np.int64)
            time_order = self.time_order(table) if times is not None else np.arange(n)
            sorted_times = row_times[time_order]
            for j, name in enumerate(cat_names):
                codes, vocab, first = cols._first_appearance_codes(source.column(name), time_order, sorted_times)
                categorical[:, j] = codes
                meta["categorical_vocab"].append(vocab)
                np.save(self.folder / f"f{i}_catfirst_{j}.npy", first)
                del codes
            del time_order, sorted_times, row_times
        categorical.flush()

        ts_names = by_stype.get(SType.TIMESTAMP, [])
        timestamp = self.array(f"f{i}_timestamp", (n, len(ts_names)), np.float64)
        for j, name in enumerate(ts_names):
            timestamp[:, j] = cols._to_seconds(source.column(name), table, name)  # unit inferred per column
        timestamp.flush()
        meta["timestamp_names"] = ts_names

        text_names = by_stype.get(SType.TEXT, [])
        width = cols.text_dim(self.text_encoder)
        text = self.array(f"f{i}_text", (n, len(text_names) * width), np.float32)
        for j, name in enumerate(text_names):
            lo = 0
            for chunk in source.chunks(name, self.chunk):
                encoded = cols.encode_text(chunk) if self.text_encoder == "hash" else encode_text_minilm(chunk)
                text[lo : lo + len(chunk), j * width : (j + 1) * width] = encoded
                lo += len(chunk)
        text.flush()
        meta["text_names"] = text_names

        multi_names = by_stype.get(SType.MULTICATEGORICAL, [])
        meta["multicategorical_names"], meta["multicategorical_vocab"] = multi_names, []
        if multi_names:
            row_times = np.asarray(times) if times is not None else np.full(n, cols.ALWAYS, dtype=np.int64)
            time_order = self.time_order(table) if times is not None else np.arange(n)
            rank = np.empty(n, dtype=np.int64)
            rank[time_order] = np.arange(n)
            for c, name in enumerate(multi_names):
                values, rows = cols.split_multicategorical(source.column(name))
                pair_order = np.argsort(rank[rows], kind="stable")
                codes, vocab, first = cols._first_appearance_codes(values, pair_order, row_times[rows[pair_order]])
                meta["multicategorical_vocab"].append([str(v) for v in vocab])
                np.save(self.folder / f"f{i}_multifirst_{c}.npy", first)
                np.save(self.folder / f"f{i}_multirows_{c}.npy", rows)
                np.save(self.folder / f"f{i}_multicodes_{c}.npy", codes)
        return meta


class _KeyMatcher:
    """Parent key -> parent row, one array per parent table; child keys are matched a chunk at a time.

    Integer keys: the parent keys sorted once plus their row order, matched by binary search.
    Other types: Arrow's ``index_in`` against the parent key array.
    """

    def __init__(self, parent_keys: pa.Array, child_name: str, parent_name: str) -> None:
        self.parent_keys = parent_keys
        distinct = pc.count_distinct(parent_keys, mode="only_valid").as_py()
        if distinct != len(parent_keys) - parent_keys.null_count:
            raise SchemaError(
                f"{parent_name} is referenced by {child_name} but has duplicate values: "
                "declare a unique key in the schema file"
            )
        self.sorted: np.ndarray | None = None
        if pa.types.is_integer(parent_keys.type):
            values = pc.fill_null(pc.cast(parent_keys, pa.int64()), 0).to_numpy(zero_copy_only=False)
            valid = parent_keys.is_valid().to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(valid)
            order = np.argsort(values[rows], kind="stable")
            self.sorted, self.sorted_rows = values[rows][order], rows[order].astype(np.int64)

    def rows(self, keys: pa.Array) -> np.ndarray:
        out = np.full(len(keys), -1, dtype=np.int64)
        if self.sorted is not None and pa.types.is_integer(keys.type):
            valid = keys.is_valid().to_numpy(zero_copy_only=False)
            values = pc.fill_null(pc.cast(keys, pa.int64()), 0).to_numpy(zero_copy_only=False)
            at = np.searchsorted(self.sorted, values)
            inside = at < len(self.sorted)
            hit = valid & inside
            hit[inside] &= self.sorted[at[inside]] == values[inside]
            out[hit] = self.sorted_rows[at[hit]]
            return out
        child, parent = _common_key_type(keys, self.parent_keys)
        positions = pc.index_in(child, value_set=parent)
        found = positions.is_valid().to_numpy(zero_copy_only=False)
        out[found] = pc.drop_null(positions).to_numpy().astype(np.int64)
        return out


def _scatter_grouped(groups: np.ndarray, visit: Iterator[np.ndarray], counts: np.ndarray, write: Any) -> None:
    """Counting sort: place the items of ``visit`` (chunks of indices into ``groups``) grouped by
    ``groups[item]`` (items of group -1 skipped), keeping visit order within a group.

    ``write(position, items, groups)`` stores a chunk; ``counts`` are the items per group that
    ``visit`` yields (its cumulative sum gives each group's first position).
    """
    cursor = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=cursor[1:])
    for items in visit:
        g = np.asarray(groups[items]) if not isinstance(items, slice) else np.asarray(groups[items])
        keep = g >= 0
        items, g = np.asarray(items)[keep], g[keep]
        if not len(items):
            continue
        order = np.argsort(g, kind="stable")
        g, items = g[order], items[order]
        first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        lengths = np.diff(np.r_[first, len(g)])
        rank = np.arange(len(g), dtype=np.int64) - np.repeat(first, lengths)
        position = cursor[g] + rank
        write(position, items, g)
        cursor[g[first]] += lengths


# ---- load ------------------------------------------------------------------------------------------
def load_graph_mmap(folder: str | Path) -> TemporalGraph | None:
    """The memory-mapped graph in ``folder`` (every array opened with ``mmap_mode="r"``), or None when
    the folder is from another layout version."""
    folder = Path(folder)
    meta = json.loads((folder / _META).read_text())
    if meta.get("version") != MMAP_VERSION or meta.get("graph_version") != GRAPH_CODE_VERSION:
        return None

    def load(name: str) -> np.ndarray:
        return np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    tables: list[str] = meta["tables"]
    edge_index: dict[EdgeType, np.ndarray] = {}
    dropped: dict[EdgeType, int] = {}
    csr: dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray | None, int]] = {}
    for j, edge in enumerate(meta["edges"]):
        forward, reverse = tuple(edge["forward"]), tuple(edge["reverse"])
        edge_index[forward] = load(f"e{j}_forward")  # type: ignore[index]
        edge_index[reverse] = load(f"e{j}_reverse")  # type: ignore[index]
        dropped[forward] = edge["dropped"]  # type: ignore[index]
        csr[forward] = (load(f"c{j}_f_indptr"), load(f"c{j}_f_neighbor"),  # type: ignore[index]
                        load(f"c{j}_f_time") if edge["forward_timed"] else None, edge["forward_max_degree"])
        csr[reverse] = (load(f"c{j}_r_indptr"), load(f"c{j}_r_neighbor"),  # type: ignore[index]
                        load(f"c{j}_r_time") if edge["reverse_timed"] else None, edge["reverse_max_degree"])
    features: dict[str, NodeFeatures] = {}
    for i, table in enumerate(tables):
        fm = meta["features"][table]
        multi = range(len(fm["multicategorical_names"]))
        features[table] = NodeFeatures(
            num_rows=fm["num_rows"],
            numerical=load(f"f{i}_numerical"),
            numerical_names=fm["numerical_names"],
            categorical=load(f"f{i}_categorical"),
            categorical_names=fm["categorical_names"],
            categorical_vocab=fm["categorical_vocab"],
            categorical_first_seen=[load(f"f{i}_catfirst_{c}") for c in range(len(fm["categorical_names"]))],
            timestamp=load(f"f{i}_timestamp"),
            timestamp_names=fm["timestamp_names"],
            text=load(f"f{i}_text"),
            text_names=fm["text_names"],
            multicategorical_names=fm["multicategorical_names"],
            multicategorical_vocab=fm["multicategorical_vocab"],
            multicategorical_first_seen=[load(f"f{i}_multifirst_{c}") for c in multi],
            multicategorical_rows=[load(f"f{i}_multirows_{c}") for c in multi],
            multicategorical_codes=[load(f"f{i}_multicodes_{c}") for c in multi],
        )
    return TemporalGraph(
        num_nodes=dict(zip(tables, meta["num_nodes"])),
        node_time={t: (load(f"time_{i}") if timed else None) for i, (t, timed) in enumerate(zip(tables, meta["timed"]))},
        edge_index=edge_index,
        dropped_edges=dropped,
        features=features,
        csr=csr,
    )
