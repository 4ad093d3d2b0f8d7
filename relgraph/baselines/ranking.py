"""Recommendation baselines for ``LIST_DISTINCT(...) RANK TOP k`` queries.

- :class:`PopularityRanker` (the trivial baseline): the k targets picked most often by anyone
  in the last window length before t (ties: more picks over four windows, then all history).
- :class:`HistoryRanker`: the entity's own past targets, most frequent (or most recent) first,
  back-filled with the popular ones.
- :class:`LightGBMRanker`: candidates = the entity's past targets and the most popular targets
  at t; a binary LightGBM on pair features (past picks by the entity, recency, popularity in
  windows, target age) scores them; the top k by score are returned.

Every ranker follows the :class:`relgraph.predictor.Predictor` protocol (``predict`` gives an
object array [n, k] of target ids) and also offers ``rank(db, frame) -> (ids, scores)``. All
of them read only events with time <= each row's prediction time (see
:mod:`relgraph.query.interactions`). Saved as JSON (+ LightGBM's text model); no pickle.
"""

from __future__ import annotations

import json
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.json_values import json_or_text
from relgraph.metrics import ranking_metrics
from relgraph.query.interactions import PAIR_FEATURES, InteractionLog, RankingSpec
from relgraph.query.task import TaskTables
from relgraph.schema.times import to_seconds

_META_FILE = "ranker.json"
_LGB_FILE = "ranker_lightgbm.txt"


def top_k_lists(rows: np.ndarray, ids: np.ndarray, scores: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Long ``(row, id, score)`` triples -> per row the first k ids by descending score.

    Rows with the same (row, id) keep their first occurrence (callers list preferred sources
    first). Returns object array [n, k] of ids (None where a row has fewer than k) and float
    [n, k] scores (NaN there).
    """
    long = pd.DataFrame({"row": rows, "id": ids, "score": scores.astype(float), "order": np.arange(len(rows))})
    long = long.drop_duplicates(["row", "id"], keep="first")
    long = long.sort_values(["row", "score", "order"], ascending=[True, False, True], kind="stable")
    long["place"] = long.groupby("row").cumcount()
    long = long[long["place"] < k]
    out_ids = np.full((n, k), None, dtype=object)
    out_scores = np.full((n, k), np.nan)
    r, p = long["row"].to_numpy(), long["place"].to_numpy()
    out_ids[r, p] = long["id"].to_numpy(dtype=object)
    out_scores[r, p] = long["score"].to_numpy()
    return out_ids, out_scores


class _Ranker:
    """Shared plumbing: the query's spec, the interaction log per database, save / load."""

    name = "ranker"

    #: Rankers output ids, not class probabilities; only LightGBMRanker reports importance (``feature_importance()``).
    classes_: list[Any] | None = None
    feature_importance_: pd.Series | None = None

    def __init__(self) -> None:
        self.spec: RankingSpec | None = None
        self.query: str | None = None
        self.task_type = "ranking"
        self.history_: list[dict[str, float]] = []
        self._log: tuple[weakref.ref, InteractionLog] | None = None

    def _fit_spec(self, db: Database, task: TaskTables) -> RankingSpec:
        if task.task_type != "ranking":
            raise ModelError(f"{type(self).__name__} ranks targets of RANK TOP k queries, not a {task.task_type} task")
        if not task.query:
            raise ModelError("ranking needs the PQL query (LIST_DISTINCT ... RANK TOP k); pass --query, not only task tables")
        self.query = task.query
        assert task.parsed is not None  # parsed from task.query, checked above
        self.spec = RankingSpec.from_query(db, task.parsed)
        if task.k:
            self.spec = RankingSpec(**{**self.spec.__dict__, "k": int(task.k)})
        self._log = None
        return self.spec

    def log(self, db: Database) -> InteractionLog:
        """The event log of ``db`` (rebuilt when another database object is passed)."""
        if self.spec is None:
            raise ModelError(f"{type(self).__name__} is not fitted: call fit or load first")
        # A weak reference, never id(db): a freed database's id is reused by the next object.
        if self._log is None or self._log[0]() is not db:
            self._log = (weakref.ref(db), InteractionLog(db, self.spec))
        return self._log[1]

    def _check_frame(self, frame: pd.DataFrame) -> None:
        assert self.spec is not None
        for column in (self.spec.entity_key, "timestamp"):
            if column not in frame.columns:
                raise ModelError(f"rows to rank need the column {column!r}; give [{self.spec.entity_key}, timestamp]")

    def rank(self, db: Database, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[entity_key, "timestamp"]`` -> (object [n, k] target ids, float [n, k] scores)."""
        raise NotImplementedError

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Rows ``[entity_key, "timestamp"]`` -> object [n, k] target ids, best first."""
        return self.rank(db, frame)[0]

    def _popular(self, log: InteractionLog, frame: pd.DataFrame, depth: int) -> pd.DataFrame:
        """Per row of ``frame``, the ``depth`` most popular targets at its time: ``row``, ``target``, ``score``
        (score in (0, 1], decreasing with the popularity place)."""
        t = to_seconds(frame["timestamp"])
        pop = log.popularity(frame["timestamp"])
        pop = pop.sort_values(["t", "pop_recent", "pop_long", "pop_all", "target"],
                              ascending=[True, False, False, False, True], kind="stable")
        pop["place"] = pop.groupby("t").cumcount()
        pop = pop[pop["place"] < depth]
        rows = pd.DataFrame({"row": np.arange(len(frame)), "t": t})
        out = rows.merge(pop[["t", "target", "place"]], on="t", how="inner")
        out["score"] = 1.0 / (1.0 + out["place"].to_numpy(dtype=float))
        return out[["row", "target", "score"]]

    # ---- persistence ---------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {}

    def save(self, directory: Path | str) -> None:
        if self.spec is None:
            raise ModelError("nothing to save: the ranker is not fitted")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"kind": self.name, "query": self.query, "spec": {**self.spec.__dict__, "path": list(self.spec.path)},
                "history": self.history_, **self._state()}
        (directory / _META_FILE).write_text(json.dumps(meta, indent=1, default=json_or_text))

    @classmethod
    def _read_meta(cls, directory: Path | str) -> dict[str, Any]:
        path = Path(directory) / _META_FILE
        if not path.exists():
            raise ModelError(f"{directory} holds no ranking model ({_META_FILE} missing); pass a `relgraph train --out` model folder")
        meta = json.loads(path.read_text())
        if meta.get("kind") != cls.name:
            raise ModelError(f"{directory} holds a {meta.get('kind')!r} ranker, not {cls.name!r}")
        return meta

    def _restore(self, meta: dict[str, Any]) -> None:
        spec = dict(meta["spec"])
        spec["path"] = tuple(tuple(hop) for hop in spec["path"])
        self.spec = RankingSpec(**spec)
        self.query = meta["query"]
        self.history_ = meta.get("history", [])




class PopularityRanker(_Ranker):
    """The k most picked targets in the window length before t, the same list for every entity."""

    name = "popularity"

    def fit(self, db: Database, task: TaskTables) -> PopularityRanker:
        self._fit_spec(db, task)
        return self

    def rank(self, db: Database, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_frame(frame)
        assert self.spec is not None
        popular = self._popular(self.log(db), frame, self.spec.k)
        return top_k_lists(popular["row"].to_numpy(), popular["target"].to_numpy(), popular["score"].to_numpy(),
                           len(frame), self.spec.k)

    @classmethod
    def load(cls, directory: Path | str) -> PopularityRanker:
        self = cls()
        self._restore(cls._read_meta(directory))
        return self


class HistoryRanker(_Ranker):
    """The entity's own past targets (``order="frequency"``: most picked first, then most recent;
    ``"recency"``: most recent first), back-filled with the popular targets at t."""

    name = "history"

    def __init__(self, order: str = "frequency") -> None:
        super().__init__()
        if order not in ("frequency", "recency"):
            raise ModelError(f"history order {order!r} is unknown; use 'frequency' or 'recency'")
        self.order = order

    def fit(self, db: Database, task: TaskTables) -> HistoryRanker:
        self._fit_spec(db, task)
        return self

    def rank(self, db: Database, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_frame(frame)
        assert self.spec is not None
        log = self.log(db)
        own = log.history(frame[self.spec.entity_key], frame["timestamp"])
        keys = ["hist_count", "hist_last"] if self.order == "frequency" else ["hist_last", "hist_count"]
        own = own.sort_values(["row", *keys, "target"], ascending=[True, False, False, True], kind="stable")
        place = own.groupby("row").cumcount().to_numpy(dtype=float)
        # Own targets score in (1, 2], popular ones in (0, 1]: own history always ranks first.
        own_score = 1.0 + 1.0 / (1.0 + place)
        popular = self._popular(log, frame, self.spec.k)
        rows = np.concatenate([own["row"].to_numpy(), popular["row"].to_numpy()])
        ids = np.concatenate([own["target"].to_numpy(), popular["target"].to_numpy()])
        scores = np.concatenate([own_score, popular["score"].to_numpy()])
        return top_k_lists(rows, ids, scores, len(frame), self.spec.k)

    def _state(self) -> dict[str, Any]:
        return {"order": self.order}

    @classmethod
    def load(cls, directory: Path | str) -> HistoryRanker:
        meta = cls._read_meta(directory)
        self = cls(order=meta["order"])
        self._restore(meta)
        return self


class LightGBMRanker(_Ranker):
    """Binary LightGBM over candidate (entity, target) pairs.

    Args:
        seed: LightGBM seed.
        popular_candidates: how many of the most popular targets at t join each entity's own
            past targets as candidates (default: max(3 k, 30)).
        num_threads: LightGBM threads.
        early_stopping_rounds: rounds without validation log-loss gain before stopping.
    """

    name = "lightgbm_ranker"

    def __init__(self, seed: int = 0, popular_candidates: int | None = None, num_threads: int = 1,
                 early_stopping_rounds: int = 30) -> None:
        super().__init__()
        self.seed = seed
        self.popular_candidates = popular_candidates
        self.num_threads = num_threads
        self.early_stopping_rounds = early_stopping_rounds
        self.booster_: Any = None
        self.feature_importance_: pd.Series | None = None
        self.timing_: dict[str, float] = {}

    def _depth(self) -> int:
        assert self.spec is not None
        return self.popular_candidates or max(3 * self.spec.k, 30)

    def candidates(self, db: Database, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate pairs of each row and their features.

        Returns:
            ``row`` int64 [m], ``position`` int64 [m] (target table positions), features float32
            [m, len(PAIR_FEATURES)], from events with time <= each row's time only.
        """
        assert self.spec is not None
        log = self.log(db)
        own = log.history(frame[self.spec.entity_key], frame["timestamp"])[["row", "target"]]
        popular = self._popular(log, frame, self._depth())[["row", "target"]]
        pairs = pd.concat([own, popular], ignore_index=True).drop_duplicates().sort_values(["row", "target"])
        position = pd.Index(log.target_ids).get_indexer(pairs["target"].to_numpy())
        pairs = pairs[position >= 0]
        position = position[position >= 0].astype(np.int64)
        rows = pairs["row"].to_numpy(dtype=np.int64)
        split = np.split(position, np.searchsorted(rows, np.arange(1, len(frame))))
        feats = log.pair_features(frame[self.spec.entity_key], frame["timestamp"], split)
        return rows, position, feats

    def _labelled(self, db: Database, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        rows, position, feats = self.candidates(db, frame)
        return feats, pair_hits(self.log(db), frame["label"], rows, position)

    def fit(self, db: Database, task: TaskTables) -> LightGBMRanker:
        import lightgbm as lgb

        started = time.perf_counter()
        self._fit_spec(db, task)
        x_train, y_train = self._labelled(db, task.train)
        params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20,
                  "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
                  "verbose": -1, "seed": self.seed, "num_threads": self.num_threads, "deterministic": True,
                  "force_row_wise": True}
        train_set = lgb.Dataset(x_train, y_train, feature_name=list(PAIR_FEATURES), free_raw_data=False)
        callbacks, valid = [], []
        if len(task.val):
            x_val, y_val = self._labelled(db, task.val)
            valid = [lgb.Dataset(x_val, y_val, reference=train_set)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        self.booster_ = lgb.train(params, train_set, num_boost_round=500 if valid else 100, valid_sets=valid,
                                  callbacks=callbacks)
        self.timing_ = {"fit_seconds": time.perf_counter() - started, "train_pairs": float(len(y_train)),
                       "train_positive_share": float(y_train.mean()) if len(y_train) else 0.0}
        self.feature_importance_ = self.feature_importance()
        return self

    def rank(self, db: Database, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_frame(frame)
        if self.booster_ is None or self.spec is None:
            raise ModelError("the LightGBM ranker is not trained: call fit or load first")
        rows, position, feats = self.candidates(db, frame)
        score = self.booster_.predict(feats, num_iteration=self.booster_.best_iteration or None) if len(rows) else np.zeros(0)
        ids = self.log(db).target_ids.to_numpy()[position]
        # Popular targets back-fill rows with fewer than k candidates, below every scored one.
        popular = self._popular(self.log(db), frame, self.spec.k)
        all_rows = np.concatenate([rows, popular["row"].to_numpy()])
        all_ids = np.concatenate([ids, popular["target"].to_numpy()])
        all_scores = np.concatenate([score, popular["score"].to_numpy() - 2.0])
        return top_k_lists(all_rows, all_ids, all_scores, len(frame), self.spec.k)

    def feature_importance(self) -> pd.Series:
        """Total gain per pair feature."""
        gain = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=list(PAIR_FEATURES), dtype=float).sort_values(ascending=False)

    def _state(self) -> dict[str, Any]:
        return {"seed": self.seed, "popular_candidates": self.popular_candidates, "timing": self.timing_}

    def save(self, directory: Path | str) -> None:
        super().save(directory)
        self.booster_.save_model(str(Path(directory) / _LGB_FILE))

    @classmethod
    def load(cls, directory: Path | str) -> LightGBMRanker:
        import lightgbm as lgb

        meta = cls._read_meta(directory)
        self = cls(seed=meta["seed"], popular_candidates=meta["popular_candidates"])
        self._restore(meta)
        self.timing_ = meta.get("timing", {})
        self.booster_ = lgb.Booster(model_file=str(Path(directory) / _LGB_FILE))
        self.feature_importance_ = self.feature_importance()
        return self


def pair_hits(log: InteractionLog, labels: pd.Series, rows: np.ndarray, position: np.ndarray) -> np.ndarray:
    """float32 [m]: 1 where target ``position[i]`` is in the label list of row ``rows[i]``."""
    truth = log.labels_as_positions(labels)
    sizes = np.array([len(t) for t in truth], dtype=np.int64)
    # One int64 code per (row, position) pair: membership by sorted search, no Python loop.
    width = np.int64(len(log.target_ids) + 1)
    truth_codes = np.sort(np.repeat(np.arange(len(truth), dtype=np.int64), sizes) * width
                          + (np.concatenate(truth) if len(truth) else np.zeros(0, np.int64)))
    codes = rows.astype(np.int64) * width + position
    found = np.searchsorted(truth_codes, codes)
    found = np.minimum(found, max(len(truth_codes) - 1, 0))
    return (truth_codes[found] == codes).astype(np.float32) if len(truth_codes) else np.zeros(len(codes), np.float32)


def evaluate_ranker(ranker: _Ranker, db: Database, frame: pd.DataFrame, k: int) -> dict[str, float]:
    """MAP@k, recall@k and NDCG@k of ``ranker`` on rows with a ``label`` list."""
    ids = ranker.predict(db, frame)
    return ranking_metrics(list(frame["label"]), [[i for i in row if i is not None] for row in ids], k)
