"""Past interactions of a ranking query: who picked which target when, as seen at a time t.

A ranking query ``PREDICT LIST_DISTINCT(events.fk, start, end, unit) RANK TOP k FOR EACH
entity.key`` recommends rows of the table ``events.fk`` references (the *targets*). Every
recommender here (popularity, history rules, LightGBM over candidates, the GNN's pair
features) reads the same log of past events ``(entity, target, time)``, the entity reached
through the query's key path, and only ever the rows with ``time <= t`` of each prediction
time t: the SQL joins below all carry that condition.

Torch-free (the baselines use it too).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from relgraph.database import TIME_COLUMN
from relgraph.errors import QueryError
from relgraph.query.ast import Query, Rank
from relgraph.query.parser import parse
from relgraph.query.planner import quote
from relgraph.query.validator import validate
from relgraph.schema.times import to_seconds

#: Seconds per PQL window unit; months count as 30 days (only used to size look-back windows).
UNIT_SECONDS = {"minutes": 60, "hours": 3_600, "days": 86_400, "weeks": 604_800, "months": 2_592_000, "years": 31_536_000}

#: Pair features of (entity, candidate target) at t, in the order models receive them.
PAIR_FEATURES = (
    "hist_count",  # times the entity picked the target, all history <= t
    "hist_count_recent",  # ... within one window length before t
    "hist_days_since_last",  # days since the entity last picked it (NaN: never)
    "pop_recent",  # picks of the target by anyone within one window length before t
    "pop_long",  # ... within four window lengths
    "pop_all",  # ... all history
    "target_age_days",  # days since the target row appeared (NaN: static table)
)


@dataclass(frozen=True)
class RankingSpec:
    """What a ranking query ranks, resolved against the schema.

    Attributes:
        entity_table, entity_key: ``FOR EACH`` table and its key column.
        event_table, target_column: the ``LIST_DISTINCT`` table and its foreign key column.
        target_table, target_key: the table of the recommended ids and its key column.
        window_seconds: the label window's length (``end - start``) in seconds (months ~ 30 days).
        k: list length.
        path: foreign-key hops from the event table up to the entity table, as
            ``(child, fk_column, parent, parent_column)``.
    """

    entity_table: str
    entity_key: str
    event_table: str
    target_column: str
    target_table: str
    target_key: str
    window_seconds: int
    k: int
    path: tuple[tuple[str, str, str, str], ...]

    @classmethod
    def from_query(cls, db: object, query: str | Query) -> RankingSpec:
        """Resolve ``query`` (PQL text or parsed) on ``db``; ``QueryError`` unless it is a ``RANK TOP k`` query."""
        parsed = parse(query) if isinstance(query, str) else query
        if not isinstance(parsed.target, Rank):
            raise QueryError(f"{str(query)!r} is not a ranking query; write PREDICT LIST_DISTINCT(...) RANK TOP k FOR EACH ...")
        resolved = validate(parsed, db.schema)  # type: ignore[attr-defined]
        agg = parsed.target.aggregate
        assert agg.column.column is not None and resolved.target_table is not None
        target_key = db.schema[resolved.target_table].primary_key  # type: ignore[attr-defined]
        if target_key is None:
            raise QueryError(f"table {resolved.target_table!r} has no primary key, so its rows cannot be ranked; declare one")
        window = agg.window
        return cls(
            entity_table=resolved.entity_table,
            entity_key=resolved.entity_key,
            event_table=agg.column.table,
            target_column=agg.column.column,
            target_table=resolved.target_table,
            target_key=target_key,
            window_seconds=(window.end - window.start) * UNIT_SECONDS[window.unit],
            k=parsed.target.k,
            path=tuple((h.child, h.fk_column, h.parent, h.parent_column) for h in resolved.routes[agg][0]),
        )


class InteractionLog:
    """The event log ``(entity, target, time)`` of one ranking query on one database.

    Attributes:
        spec: the resolved query.
        events: DataFrame ``entity`` (entity key values), ``target`` (target key values),
            ``time`` (int64 seconds), sorted by time; rows with an unknown time or a null
            entity / target are left out.
        target_ids: every row of the target table (key values), in table order.
        target_time: int64 seconds each target row appears, or None (static target table).
    """

    def __init__(self, db: object, spec: RankingSpec) -> None:
        self.spec = spec
        con = db.duckdb()  # type: ignore[attr-defined]
        joins, alias = [], "s"
        for i, (_, fk_column, parent, parent_column) in enumerate(spec.path[:-1]):
            joins.append(f"JOIN {quote(parent)} h{i} ON {alias}.{quote(fk_column)} = h{i}.{quote(parent_column)}")
            alias = f"h{i}"
        entity = f"{alias}.{quote(spec.path[-1][1])}"
        target = f"s.{quote(spec.target_column)}"
        sql = (
            f"SELECT {entity} AS entity, {target} AS target, "
            f"epoch(s.{quote(TIME_COLUMN)})::BIGINT AS time FROM {quote(spec.event_table)} s "
            + " ".join(joins)
            + f" WHERE {entity} IS NOT NULL AND {target} IS NOT NULL AND s.{quote(TIME_COLUMN)} IS NOT NULL"
            " ORDER BY time, entity, target"
        )
        self.events: pd.DataFrame = con.execute(sql).df()
        self.events["time"] = self.events["time"].astype(np.int64)
        table = db.tables[spec.target_table]  # type: ignore[attr-defined]
        self.target_ids = table.column(spec.target_key).to_pandas()
        # Foreign key and primary key may differ in width (int32 / int64): compare in the key's type.
        self.events["target"] = self.events["target"].astype(self.target_ids.dtype)
        times = db.row_times(spec.target_table)  # type: ignore[attr-defined]
        if times is None:
            self.target_time: np.ndarray | None = None
        else:
            secs = times.astype("datetime64[s]").astype(np.int64)
            self.target_time = np.where(np.isnat(times), np.iinfo(np.int64).max, secs)

    # ---- queries at times t ----------------------------------------------------------------------
    def _con(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:")
        con.register("events", self.events)
        return con

    def existing_targets(self, t_seconds: int) -> np.ndarray:
        """Positions (in the target table) of the target rows that exist at ``t_seconds``."""
        if self.target_time is None:
            return np.arange(len(self.target_ids))
        return np.flatnonzero(self.target_time <= t_seconds)

    def popularity(self, times: object) -> pd.DataFrame:
        """Per prediction time and picked target: ``pop_recent``, ``pop_long``, ``pop_all``, ``last_pick``.

        Args:
            times: prediction times (anything ``pd.to_datetime`` reads).

        Returns:
            DataFrame ``t`` (int64 seconds), ``target``, the three counts and ``last_pick``
            (seconds of its latest pick), from events with ``time <= t`` only.
        """
        window = self.spec.window_seconds
        stamps = pd.DataFrame({"t": np.unique(to_seconds(times))})
        con = self._con()
        con.register("stamps", stamps)
        sql = f"""
            SELECT w.t, e.target,
                   COUNT(*) FILTER (WHERE e.time > w.t - {window}) AS pop_recent,
                   COUNT(*) FILTER (WHERE e.time > w.t - {4 * window}) AS pop_long,
                   COUNT(*) AS pop_all,
                   MAX(e.time) AS last_pick
            FROM stamps w JOIN events e ON e.time <= w.t
            GROUP BY ALL
        """
        return con.execute(sql).df()

    def history(self, entities: object, times: object) -> pd.DataFrame:
        """The entity's own past picks for each prediction row.

        Args:
            entities: [n] entity key values; times: [n] prediction times.

        Returns:
            DataFrame ``row`` (position 0..n-1), ``target``, ``hist_count``, ``hist_count_recent``,
            ``hist_last`` (seconds), ``hist_first`` (seconds), from events with ``time <= t``.
        """
        window = self.spec.window_seconds
        rows = pd.DataFrame({"row": np.arange(len(np.asarray(entities))), "entity": np.asarray(entities),
                             "t": to_seconds(times)})
        if len(rows) and len(self.events):
            rows["entity"] = rows["entity"].astype(self.events["entity"].dtype)
        con = self._con()
        con.register("rows", rows)
        sql = f"""
            SELECT r.row, e.target,
                   COUNT(*) AS hist_count,
                   COUNT(*) FILTER (WHERE e.time > r.t - {window}) AS hist_count_recent,
                   MAX(e.time) AS hist_last, MIN(e.time) AS hist_first
            FROM rows r JOIN events e ON e.entity = r.entity AND e.time <= r.t
            GROUP BY ALL
        """
        return con.execute(sql).df()

    def pair_features(self, entities: object, times: object, candidates: list[np.ndarray]) -> np.ndarray:
        """Features of (row, candidate) pairs, :data:`PAIR_FEATURES` order.

        Args:
            entities, times: [n] prediction rows.
            candidates: per row, int64 positions of candidate targets in the target table.

        Returns:
            float32 [sum of candidate counts, len(PAIR_FEATURES)], rows in the order of
            ``candidates`` (row 0's candidates first).
        """
        t = to_seconds(times)
        n = len(t)
        sizes = np.array([len(c) for c in candidates], dtype=np.int64)
        pair_row = np.repeat(np.arange(n), sizes)
        pair_pos = np.concatenate(candidates) if n else np.zeros(0, dtype=np.int64)
        pairs = pd.DataFrame({"row": pair_row, "target": self.target_ids.to_numpy()[pair_pos]})
        hist = self.history(entities, times)
        pop = self.popularity(times)
        pairs["t"] = t[pair_row]
        out = pairs.merge(hist, on=["row", "target"], how="left").merge(pop, on=["t", "target"], how="left")
        day = 86_400.0
        feats = np.zeros((len(pairs), len(PAIR_FEATURES)), dtype=np.float32)
        feats[:, 0] = out["hist_count"].fillna(0).to_numpy()
        feats[:, 1] = out["hist_count_recent"].fillna(0).to_numpy()
        feats[:, 2] = ((out["t"] - out["hist_last"]) / day).to_numpy(dtype=float)
        feats[:, 3] = out["pop_recent"].fillna(0).to_numpy()
        feats[:, 4] = out["pop_long"].fillna(0).to_numpy()
        feats[:, 5] = out["pop_all"].fillna(0).to_numpy()
        if self.target_time is None:
            feats[:, 6] = np.nan
        else:
            feats[:, 6] = (pairs["t"].to_numpy() - self.target_time[pair_pos]) / day
        return feats

    def labels_as_positions(self, labels: object) -> list[np.ndarray]:
        """Ranking labels (lists of target ids) -> int64 positions in the target table (unknown ids dropped)."""
        series = pd.Series(list(labels), dtype=object)  # type: ignore[call-overload]
        long = series.explode().dropna()
        pos = pd.Index(self.target_ids).get_indexer(long.astype(self.target_ids.dtype).to_numpy())
        known = pos >= 0
        rows, pos = long.index.to_numpy()[known], pos[known].astype(np.int64)
        return np.split(pos, np.searchsorted(rows, np.arange(1, len(series))))
