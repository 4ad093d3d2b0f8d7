"""A few entities' neighbourhood as a small Database, so LightGBM features for one request read
only the rows that can reach those entities, never whole tables.

The temporal feature builder computes, per stream, running aggregates over the whole stream and
joins the frame into them: right for training and big batches, wasteful for one entity. For a
handful of ids, :func:`restrict` keeps the entity rows, every row of the builder's
entity-anchored streams that hangs off them (following each stream's foreign-key chain down,
through sorted-key indexes built once per database), and the parents of every kept row (their
columns are attached to stream rows and their times inherited), and nothing else. The builder
then runs unchanged on the small database: same SQL, same fitted state, hence the same features
(``tests/serve/test_fast_path.py`` checks equality). When a stream is anchored at an ancestor of
the entity (its rows reach other entities too), :func:`restrict` returns None and the caller uses
the whole database.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from relgraph.connectors.base import SourceData
from relgraph.database import Database

#: Sorted-key indexes per database: (table, column) -> (sorted values, row positions).
_INDEXES: weakref.WeakKeyDictionary[Database, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]] = weakref.WeakKeyDictionary()


def _index(db: Database, table: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    cache = _INDEXES.setdefault(db, {})
    if (table, column) not in cache:
        values = db.tables[table].column(column).to_pandas()
        ok = values.notna().to_numpy()
        vals = values.to_numpy()[ok]
        order = np.argsort(vals, kind="stable")
        cache[(table, column)] = (vals[order], np.flatnonzero(ok)[order])
    return cache[(table, column)]


def rows_with(db: Database, table: str, column: str, values: np.ndarray) -> np.ndarray:
    """Row positions of ``table`` whose ``column`` is one of ``values`` (binary search, no scan)."""
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    sorted_vals, positions = _index(db, table, column)
    try:
        values = np.asarray(values).astype(sorted_vals.dtype) if sorted_vals.dtype != object else np.asarray(values, dtype=object)
    except (TypeError, ValueError):
        return np.zeros(0, dtype=np.int64)
    lo = np.searchsorted(sorted_vals, values, side="left")
    hi = np.searchsorted(sorted_vals, values, side="right")
    if not (hi > lo).any():
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([positions[a:b] for a, b in zip(lo, hi) if b > a])


def _values(db: Database, table: str, column: str, rows: np.ndarray) -> np.ndarray:
    values = db.tables[table].column(column).take(pa.array(rows, type=pa.int64())).to_pandas()
    return values[values.notna()].to_numpy()


def restrict(db: Database, builder: Any, keys: list[Any]) -> Database | None:
    """The small database holding what ``builder``'s features of ``keys`` read; None when the
    builder has streams anchored at an ancestor (then only the whole database is exact)."""
    from relgraph.runs.explain.tabular import _chain

    wrapper = builder
    while hasattr(wrapper, "inner"):
        if getattr(getattr(wrapper, "extra", None), "links_", None):
            return None  # current parents' features read other entities' rows
        wrapper = wrapper.inner
    lookups, streams = builder._plan(db)
    entity = builder.entity_table_
    pk = db.schema[entity].primary_key
    chains = [_chain(db, entity, s, lookups) for s in streams]
    if any(c is None for c in chains):
        return None
    selected: dict[str, set[int]] = {name: set() for name in db.tables}
    entity_rows = rows_with(db, entity, pk, np.asarray(keys, dtype=object if isinstance(keys[0], str) else None))
    selected[entity].update(entity_rows.tolist())
    for chain in chains:
        prev_table, prev_rows = entity, entity_rows
        for table, fk, ref in chain or []:
            rows = rows_with(db, table, fk, _values(db, prev_table, ref, prev_rows))
            selected[table].update(rows.tolist())
            prev_table, prev_rows = table, rows
    # Parents of every kept row, up to the roots: attached columns, inherited times, lookups.
    frontier = {t: set(r) for t, r in selected.items() if r}
    while frontier:
        nxt: dict[str, set[int]] = {}
        for table, rows in frontier.items():
            arr = np.fromiter(rows, dtype=np.int64)
            for fk in db.schema[table].foreign_keys:
                if fk.references_table not in db.tables:
                    continue
                parents = rows_with(db, fk.references_table, fk.references_column, _values(db, table, fk.column, arr))
                new = set(parents.tolist()) - selected[fk.references_table]
                if new:
                    selected[fk.references_table].update(new)
                    nxt.setdefault(fk.references_table, set()).update(new)
        frontier = nxt
    tables = {}
    schema = copy.deepcopy(db.schema)
    for name, table in db.tables.items():
        rows = np.array(sorted(selected[name]), dtype=np.int64)
        tables[name] = table.take(pa.array(rows, type=pa.int64()))
        schema.tables[name].rows = tables[name].num_rows
    tag = f"{db.fingerprint}|neighbourhood:{hash(tuple(sorted(map(str, keys))))}"
    return Database(SourceData(db.source, tables, db.declared, tag), schema)


def lightgbm_predict(model: Any, db: Database, frame: pd.DataFrame) -> np.ndarray:
    """``model.predict`` on ``db``: for a few ids the feature builder's small-batch path reads only
    their rows (:mod:`relgraph.baselines.feature_small`, its running tables cached per database),
    measured faster than building their neighbourhood as a new database (:func:`restrict`), whose
    caches start cold on every request (``benchmarks/serve.py``)."""
    return model.predict(db, frame)
