"""Features of the entity's *current parent*: the team a driver raced for last, the carrier a
plane last flew for, the store a customer last ordered from.

An event table ``S`` with one foreign key to the entity and one to a static table ``P`` links
each entity to a ``P`` row per event; at a prediction time ``t`` the entity's current ``P`` is
the one of its latest ``S`` row at or before ``t`` (ties: the largest key). The entity's own
depth-2 features see ``P``'s columns through ``S``, but not what ``P`` did with *other*
entities (the team-mate's results, the constructor's standings): :class:`CurrentParents` adds
``P``'s own temporal features at ``t`` (a depth-1 :class:`TemporalFeatureBuilder` on
``(current P, t)``), named ``current_<P>.<feature>``. Rows without a current parent get missing
values. Every value is computed from rows at or before ``t``: the as-of lookup of the current
parent and the wrapped builder are both leakage-safe.

Measured on rel-f1 (benchmarks/README.md): validation wants it for driver-position on every
seed, for driver-dnf and driver-top3 on one seed in three, so
:class:`~relgraph.baselines.lightgbm_model.LightGBMPredictor` adds it only when validation says so.
"""

from __future__ import annotations

import uuid
import weakref
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.baselines.extra_columns import SavedAsJson
from relgraph.baselines.feature_index import _AnchorIndex, _nanoseconds
from relgraph.baselines.feature_small import numpy_path_active
from relgraph.baselines.feature_sql import _execute, _locate_sql, _q, database_cache, registered_positions
from relgraph.database import TIME_COLUMN, Database
from relgraph.engines import Engine, engine_for
from relgraph.errors import ModelError

PREFIX = "current"
#: Parent features kept: recent-form summaries (measured on rel-f1: the full set adds noise).
CURRENT_FEATURES = r"(last(3|5|10)|mean|share)"
#: Per database (inside ``numpy_path``): link -> its event rows sorted as :func:`current_parent`
#: reads them, and their anchor index; every row is kept, a lookup at ``t`` reads none after ``t``.
_EVENTS: weakref.WeakKeyDictionary[Database, dict[tuple[str, ParentLink], tuple[pa.Table, _AnchorIndex]]] = \
    database_cache()


@dataclass(frozen=True)
class ParentLink:
    """``events`` rows tie an entity (``entity_column``) to a row of ``parent`` (``parent_column``)."""

    events: str
    entity_column: str
    parent_column: str
    parent: str
    parent_key: str


def parent_links(db: Database, entity_table: str) -> list[ParentLink]:
    """Candidate links of ``entity_table``, one per static parent (through its largest event
    table), largest first. Role-named references (several keys of one event table to the
    entity, or to the parent) are skipped: which role is "current" is not knowable."""
    schema = db.schema
    best: dict[str, tuple[int, ParentLink]] = {}
    for ts in schema.tables.values():
        if ts.name == entity_table or ts.time is None:
            continue
        to_entity = [fk for fk in ts.foreign_keys if fk.references_table == entity_table]
        if len(to_entity) != 1:
            continue
        for fk in ts.foreign_keys:
            if sum(other.references_table == fk.references_table for other in ts.foreign_keys) > 1:
                continue  # role-named (flights' origin and dest): neither is "the" current airport
            parent = schema.tables.get(fk.references_table)
            if parent is None or parent.name == entity_table or parent.time is not None or parent.primary_key is None:
                continue
            if fk.references_column != parent.primary_key:
                continue
            rows = db.table(ts.name).num_rows
            link = ParentLink(ts.name, to_entity[0].column, fk.column, parent.name, parent.primary_key)
            if parent.name not in best or rows > best[parent.name][0]:
                best[parent.name] = (rows, link)
    return [link for _, link in sorted(best.values(), key=lambda x: (-x[0], x[1].parent))]


class CurrentParents(SavedAsJson):
    """Temporal features of each entity's current parents (module docstring).

    Args:
        include: regular expression over the parent builder's feature names (None: all).
        max_links: parents used at most (the ones reached through the largest event tables).
        depth: depth of the parents' feature builders.
    """

    FILE = "current_parents.json"

    def __init__(self, include: str | None = CURRENT_FEATURES, max_links: int = 2, depth: int = 1) -> None:
        self.include = include
        self.max_links = max_links
        self.depth = depth
        self.links_: list[ParentLink] = []
        self.builders_: list[TemporalFeatureBuilder] = []
        self.columns_: list[str] = []
        self.entity_key_ = ""

    def fit(self, db: Database, entity_table: str, frame: pd.DataFrame, entity_key: str,
            task_type: str | None = None) -> CurrentParents:
        """Find the links and fit one parent builder per link on the training rows' current parents."""
        self.links_ = parent_links(db, entity_table)[: self.max_links]
        self.entity_key_ = entity_key
        self.builders_, self.columns_ = [], []
        for link in self.links_:
            builder = TemporalFeatureBuilder(depth=self.depth, include=self.include, max_features=None)
            rows = self._parent_frame(db, link, frame, entity_key)
            if len(rows) == 0:
                continue
            features = builder.fit_transform(db, link.parent, rows, link.parent_key, task_type)
            numeric = [c for c in features.columns if not isinstance(features[c].dtype, pd.CategoricalDtype)]
            if not numeric:
                continue  # no recent-form number of this parent (DVD rental: inventory with none)
            builder.features_ = numeric  # the numbers only: a missing row is NaN in every one
            self.builders_.append(builder)
            self.columns_ += [_column(link, c) for c in numeric]
        self.links_ = [link for link in self.links_ if any(b.entity_table_ == link.parent for b in self.builders_)]
        return self

    def columns_for(self, db: Database, frame: pd.DataFrame, entity_key: str | None = None) -> pd.DataFrame:
        """``[n, len(columns_)]`` float columns for ``frame``'s rows, index as the frame."""
        out = pd.DataFrame(np.nan, index=frame.index, columns=self.columns_)
        key = entity_key or self.entity_key_
        for link, builder in zip(self.links_, self.builders_):
            rows = self._parent_frame(db, link, frame, key)
            if len(rows) == 0:
                continue
            features = builder.transform(db, rows, link.parent_key)
            names = [_column(link, c) for c in features.columns]
            out.iloc[rows["__row"].to_numpy(), [out.columns.get_loc(n) for n in names]] = features.to_numpy(dtype=float)
        return out

    def _parent_frame(self, db: Database, link: ParentLink, frame: pd.DataFrame, entity_key: str) -> pd.DataFrame:
        """``[parent key, "timestamp", ("label",) "__row"]``: the rows of ``frame`` that have a
        current parent at their time, with it (``__row``: position in ``frame``)."""
        parents = current_parent(db, link, frame[entity_key], frame["timestamp"])
        has = ~pd.isna(parents)
        rows = pd.DataFrame({link.parent_key: parents[has], "timestamp": pd.to_datetime(frame["timestamp"]).to_numpy()[has]})
        if "label" in frame.columns:
            rows["label"] = frame["label"].to_numpy()[has]
        rows["__row"] = np.flatnonzero(has)
        key_type = db.table(link.parent).schema.field(link.parent_key).type
        if pa.types.is_integer(key_type):
            rows[link.parent_key] = rows[link.parent_key].astype("int64")
        return rows

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {"params": {"include": self.include, "max_links": self.max_links, "depth": self.depth},
                "links": [asdict(link) for link in self.links_], "builders": [b.to_dict() for b in self.builders_],
                "columns": self.columns_, "entity_key": self.entity_key_}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CurrentParents:
        model = cls(**d["params"])
        model.links_ = [ParentLink(**link) for link in d["links"]]
        model.builders_ = [TemporalFeatureBuilder.from_dict(b) for b in d["builders"]]
        model.columns_ = list(d["columns"])
        model.entity_key_ = d["entity_key"]
        return model


def _column(link: ParentLink, feature: str) -> str:
    return f"{PREFIX}_{link.parent}.{feature}"


def current_parent(db: Database, link: ParentLink, keys: pd.Series, times: pd.Series) -> np.ndarray:
    """Per ``(key, time)``, the ``parent_column`` value of the entity's latest ``events`` row at
    or before ``time`` (ties: the largest value); None where the entity has none yet.

    The as-of lookup of :func:`~relgraph.baselines.feature_sql._locate_sql`, on the database's
    engine: the event rows ordered by (entity, time, parent) and a running maximum of their
    position per entity over the union with the frame rows.
    """
    if len(keys) == 0:
        return np.empty(0, dtype=object)
    con = engine_for(db)
    if numpy_path_active() and con.name == "duckdb":
        found = _current_parent_numpy(db, con, link, keys, times)
        if found is not None:
            return found
    events = _events(con, link)
    frame_name = f"__rg_cur_frame_{uuid.uuid4().hex}"
    con.register(frame_name, pa.table({"__fid": pa.array(np.arange(len(keys), dtype=np.int64)),
                                       "__a": pa.array(keys.to_numpy(), type=events.schema.field("__anchor").type, from_pandas=True),
                                       "__t": pa.array(pd.to_datetime(times).to_numpy(dtype="datetime64[ns]"), pa.timestamp("ns"))}))
    try:
        with registered_positions(con, events) as pos_name:
            located = _execute(con, _locate_sql(pos_name, f"SELECT __fid, __t, __a FROM {frame_name}", []))
    finally:
        con.unregister(frame_name)
    if located.num_rows != len(keys):
        raise ModelError(f"current {link.parent}: {located.num_rows} rows located for {len(keys)} frame rows")
    return np.asarray(events.column("__p").take(located.column("__r")).to_pylist(), dtype=object)


def _events(con: Engine, link: ParentLink) -> pa.Table:
    """``[__anchor, __t, __p]``: the link's event rows with an entity, a parent and a time,
    ordered by (entity, time, parent)."""
    return _execute(con,
        f"SELECT {_q(link.entity_column)} AS __anchor, CAST({TIME_COLUMN} AS TIMESTAMP_NS) AS __t, "
        f"{_q(link.parent_column)} AS __p FROM {_q(link.events)} "
        f"WHERE {_q(link.entity_column)} IS NOT NULL AND {_q(link.parent_column)} IS NOT NULL AND {TIME_COLUMN} IS NOT NULL "
        f"ORDER BY __anchor, __t, __p", large=True,
    )


def _current_parent_numpy(db: Database, con: Engine, link: ParentLink, keys: pd.Series, times: pd.Series) -> np.ndarray | None:
    """:func:`current_parent` by binary searches over the link's sorted events (cached per
    database): per row, the last event of its entity at or before its time, which is the largest
    position the SQL's running maximum finds. None where the keys do not compare with the events'."""
    cache = _EVENTS.setdefault(db, {})
    if (con.name, link) not in cache:
        events = _events(con, link)
        cache[(con.name, link)] = (events, _AnchorIndex.of(events))
    events, index = cache[(con.name, link)]
    try:
        anchors = pa.array(keys.to_numpy(), type=events.schema.field("__anchor").type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    bounds = index.blocks(anchors)
    if bounds is None:
        return None
    at = _nanoseconds(pa.chunked_array([pa.array(pd.to_datetime(times).to_numpy(dtype="datetime64[ns]"), pa.timestamp("ns"))]))
    return np.asarray(events.column("__p").take(index.last_at_or_before(*bounds, at)).to_pylist(), dtype=object)
