"""LightGBM over automated temporal features: the tabular baseline every run is compared with.

:class:`LightGBMPredictor` follows the :class:`relgraph.predictor.Predictor` protocol:
features come from :class:`~relgraph.baselines.aggregates.TemporalFeatureBuilder` fitted on the
training rows; a few LightGBM configurations are tried, each with early stopping on the
validation split, and the best on validation are kept. Saved as LightGBM's text
model plus JSON (no pickle).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.baselines.current_parents import CurrentParents
from relgraph.baselines.extra_columns import WithColumns, _join, unwrapped
from relgraph.baselines.label_context import LabelContext, label_horizon
from relgraph.baselines.lightgbm_refits import (
    _cancel_callback,
    _Refits,
    _speculative,
    _sure_kept,
    _timed,
    _unless_cancelled,
)
from relgraph.baselines.lightgbm_search import (
    Binnings,
    JobPool,
    histogram_layout,
    worker_count,
)
from relgraph.baselines.sample import MAX_TRAIN_ROWS, training_sample
from relgraph.database import Database
from relgraph.errors import ModelError, QueryError
from relgraph.json_values import json_strict, plain
from relgraph.metrics import PRIMARY_METRIC, binary_metrics, multiclass_metrics, regression_metrics
from relgraph.query.task import TaskTables
from relgraph.stages import stage

_MODEL_FILE = "lightgbm_{}.txt"
_REFIT_FILE = "lightgbm_refit_{}.txt"
_META_FILE = "lightgbm.json"

logger = logging.getLogger(__name__)

#: Shared starting point of every configuration. Learning rates 3x the former 0.03 / 0.05: validation
#: as good or better on 6 of 8 tasks (f1, rel-f1, the demo, nycflights13, the 1M-row demo; the other two
#: within a seed's spread) for 25-64 % less fit CPU (benchmarks/lightgbm_rate.py, benchmarks/README.md #25).
BASE_PARAMS: dict[str, Any] = {
    "learning_rate": 0.09,
    "num_leaves": 7,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 63,
    "verbose": -1,
}

#: Variations tried in order (the first one always runs; an optional time budget may stop the rest). Small,
#: strongly regularised trees: temporal tasks drift between training and test periods, and
#: these generalise across the split better than deep ones (measured on rel-f1 validation).
SEARCH_SPACE: list[dict[str, Any]] = [
    {},
    {"num_leaves": 5, "min_data_in_leaf": 200, "feature_fraction": 0.5},
    {"feature_fraction": 0.3},
    {"num_leaves": 3, "learning_rate": 0.15},
    {"extra_trees": True},
    {"is_unbalance": True},  # binary only: classes weighted equally
    {"num_leaves": 15, "feature_fraction": 0.3, "lambda_l2": 10.0},
]


class LightGBMPredictor:
    """Temporal features + LightGBM, tuned on validation.

    Configurations from :data:`SEARCH_SPACE` are trained with early stopping on the validation
    split (all ``max_configs`` of them unless ``time_budget_s`` runs out first); the ``ensemble``
    best on validation are kept and their
    predictions averaged (one configuration picked on a few hundred validation rows is a noisy
    choice; on rel-f1 the average of the best 5 of 7 beat the single best on all three tasks,
    with a third of the seed-to-seed spread).

    Args:
        seed: LightGBM seed (bagging, feature sampling).
        time_budget_s: seconds for the configuration search (the first configuration always
            runs; the next ones start while the budget lasts). ``None``, the default, tries all
            ``max_configs``: a time budget makes the result depend on the machine's load.
        max_configs: configurations tried at most.
        ensemble: configurations kept (best validation scores).
        num_threads: LightGBM threads (1 by default: OpenMP workers spin, and on busy shared
            cores two threads run several times slower than one).
        builder: feature builder (default: ``TemporalFeatureBuilder()``).
        early_stopping_rounds: rounds without validation improvement before stopping.
        label_context: add the entity's own earlier labels, known by the prediction time, as
            features (``baselines.label_context``; binary and regression tasks).
        label_horizon: how long after its time a label is known (default: the query's target
            window end; task tables without a query: ``task.extra["label_horizon"]``, else no
            label context).
        max_train_rows: train on a seeded sample of this many training rows when there are more
            (``baselines.sample``; ``None``: all rows).
        current_parents: features of the entity's current parents (``baselines.current_parents``:
            a driver's current team): ``"auto"`` adds them when the first configuration scores
            better with them on validation, ``"on"`` always (when the schema has such a link),
            ``"off"`` never.
        refit: after the search, train the kept configurations again, with the rounds early
            stopping chose, on training + validation rows: the validation labels are the most
            recent ones, closest to the rows predicted later. Used for rows at or after the time
            every validation label is known (the last validation time + the label horizon, which
            the query gives; task tables without a query: ``task.extra["label_horizon"]``, else no
            refit); earlier rows, validation included, keep the training-only boosters, so
            validation scores stay out-of-sample.
        search_space: the configurations to try, each a dict over :data:`BASE_PARAMS` (default
            :data:`SEARCH_SPACE`); ``relgraph ask`` gives its one fast configuration.
        n_jobs: configurations (and refits) trained at once, each on its own thread with
            ``num_threads`` LightGBM threads (``baselines.lightgbm_search``): the same boosters as
            one at a time, bit for bit, whichever starts first (without a time budget the longest
            start first and a refit starts once its configuration is sure to be kept). ``None``: the cores this process may use over
            ``num_threads`` (fewer when half the free memory cannot hold that many boosters'
            binned rows); 1: one at a time in the calling thread.
    """

    name = "lightgbm"

    def __init__(
        self,
        seed: int = 0,
        time_budget_s: float | None = None,
        max_configs: int = len(SEARCH_SPACE),
        ensemble: int = 5,
        num_threads: int = 1,
        builder: TemporalFeatureBuilder | None = None,
        early_stopping_rounds: int = 50,
        label_context: bool = False,
        label_horizon: pd.Timedelta | str | None = None,
        max_train_rows: int | None = MAX_TRAIN_ROWS,
        current_parents: str = "auto",
        refit: bool = True,
        search_space: list[dict[str, Any]] | None = None,
        n_jobs: int | None = None,
    ) -> None:
        if current_parents not in ("auto", "on", "off"):
            raise ModelError(f"current_parents={current_parents!r}: use auto, on or off")
        self.seed = seed
        self.time_budget_s = time_budget_s
        self.max_configs = max_configs
        self.ensemble = ensemble
        self.num_threads = num_threads
        self.builder = builder or TemporalFeatureBuilder()
        self.early_stopping_rounds = early_stopping_rounds
        self.label_context = label_context
        self.label_horizon = None if label_horizon is None else str(pd.Timedelta(label_horizon))
        self.max_train_rows = max_train_rows
        self.current_parents = current_parents
        self.refit = refit
        self.search_space = search_space
        self.n_jobs = n_jobs
        self.boosters_: list[Any] = []
        #: Boosters trained on training + validation rows (``refit``), for rows from ``meta_["refit"]["from"]``.
        self.refit_boosters_: list[Any] = []
        self.meta_: dict[str, Any] = {}
        self.feature_importance_: pd.Series | None = None

    @property
    def classes_(self) -> list[Any] | None:
        """Multiclass: the class of each probability column (``meta_["classes"]``); else None."""
        return self.meta_.get("classes")

    @property
    def history_(self) -> list[dict[str, float]]:
        """Fitted in one go: no per-epoch records."""
        return []

    # ------------------------------------------------------------------ training
    def fit(self, db: Database, task: TaskTables) -> LightGBMPredictor:
        """Build features, try configurations with early stopping on ``task.val``, keep the best few."""
        import lightgbm as lgb

        if task.task_type not in ("binary", "regression", "multiclass"):
            raise QueryError(f"LightGBMPredictor handles binary, regression and multiclass tasks, not {task.task_type!r}")
        started = time.perf_counter()
        key = task.entity_key
        task = dataclasses.replace(task, train=training_sample(task.train, self.max_train_rows, self.seed))
        self.builder = unwrapped(self.builder)  # fitted before: the extra columns are the new task's
        if self.label_context and task.task_type in ("binary", "regression"):
            horizon = self._horizon(task)
            if horizon is not None:
                labelled = pd.concat([task.train, task.val])[[key, "timestamp", "label"]]
                self.builder = WithColumns(self.builder, LabelContext(horizon).fit(labelled, key))  # type: ignore[assignment]
        with stage("features", rows=len(task.train) + len(task.val)):
            x_train = self.builder.fit_transform(db, task.entity_table, task.train, key, task.task_type)
            x_val = self.builder.transform(db, task.val, key)
        y_train, y_val, classes = _encode_labels(task)
        val_ok = ~pd.isna(y_val)
        x_val, y_val = x_val[val_ok], y_val[val_ok]
        if len(y_val) == 0:
            raise QueryError("validation table has no labelled rows; LightGBM needs them for early stopping")
        objective = _objective(task.task_type, classes)
        variants = [v for v in (self.search_space or SEARCH_SPACE) if task.task_type == "binary" or "is_unbalance" not in v][: self.max_configs]

        planned = [self._params(variant, objective) for variant in variants]
        binned = {id(x_train): Binnings(x_train, y_train, planned)}  # per feature matrix (with or without current parents)

        def train_one(index: int, x_tr: pd.DataFrame, x_va: pd.DataFrame,
                      cancel: threading.Event | None = None) -> tuple[float, Any, np.ndarray, dict[str, Any]]:
            params = planned[index]
            train_set, val_set = binned[id(x_tr)].dataset(params, (x_va, y_val))
            stop = [] if cancel is None else [_cancel_callback(cancel)]
            booster = lgb.train(
                params, train_set, num_boost_round=3000, valid_sets=[val_set],
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False), *stop],
            )
            val_pred = _raw_predict(booster, x_va, num_threads=self.num_threads)  # see lightgbm_search: threads
            score = _score(task.task_type, y_val, val_pred, classes)
            logger.info("lightgbm: configuration %d of %d: validation %.4f (%d rounds)", index + 1,
                        len(variants), score, booster.best_iteration)
            trial = {"params": {k: v for k, v in params.items() if k not in ("verbose", "num_threads")},
                     "best_iteration": booster.best_iteration, "val_score": score}
            return score, booster, val_pred, trial

        # No time budget: which job starts when changes no result, so the first configuration on
        # the features trains while the current parents' columns are computed, the slowest
        # configurations start first and refits start as soon as their configuration is sure to be kept.
        eager = self.time_budget_s is None
        jobs = len(variants) + int(self.current_parents != "off")
        with JobPool(worker_count(self.n_jobs, self.num_threads, jobs)) as pool:
            # The first configuration on the features alone: a candidate without current parents,
            # the one "auto" compares with, the record of "on". It trains while the current
            # parents' columns are computed, which make no LightGBM call (their builders prune
            # nothing: see lightgbm_search on threads).
            early = functools.partial(train_one, 0, x_train, x_val)
            if eager:
                pool.submit("early", _timed(early))
                pool.start()
            current = None
            if self.current_parents != "off":
                with stage("current parents", rows=len(task.train) + len(task.val)):
                    current = CurrentParents().fit(db, task.entity_table, task.train, key, task.task_type)
                    if current.columns_:
                        extra_train, extra_val = current.columns_for(db, task.train, key), current.columns_for(db, task.val, key)
                    else:
                        current = None
            feature_seconds = time.perf_counter() - started
            # Progress for train.log (and the workspace's Runs view): features, then each configuration.
            logger.info("lightgbm: %d features for %d training and %d validation rows (%.1f s)", x_train.shape[1],
                        len(x_train), len(x_val), feature_seconds)
            search_started = time.perf_counter()

            def within_budget(index: int, x_tr: pd.DataFrame, x_va: pd.DataFrame) -> Callable[[], Any]:
                """Configuration ``index`` (after the first): started while the time budget lasts, else None."""
                def job() -> Any:
                    if self.time_budget_s is not None and time.perf_counter() - search_started > self.time_budget_s:
                        return None
                    return train_one(index, x_tr, x_va)
                return job

            current_choice: dict[str, Any] | None = None
            if current is not None:
                with_train, with_val = _join(x_train, extra_train), _join(x_val, extra_val[val_ok])
                binned[id(with_train)] = Binnings(with_train, y_train, planned)
            decided = current is None or self.current_parents == "on"  # the matrix of every configuration is known
            pool.workers = min(pool.workers, worker_count(
                self.n_jobs, self.num_threads, len(variants) + int(current is not None),
                len(x_train) * (x_train.shape[1] + (0 if current is None else with_train.shape[1]))))
            if not eager:
                pool.submit("early", _timed(early))
            with stage("lightgbm configurations", rows=len(x_train), unit="config",
                       total=len(variants) + int(current is not None)) as search:
                outcome: dict[int, Any] = {}
                seconds: dict[int, float] = {}
                spec: int | None = None  # the configuration trained on the parents' columns before the decision
                speculated: tuple[float, Any] | None = None
                record = current is not None  # the first configuration without the parents' columns: "on" records it
                if current is not None and decided:
                    self.builder = WithColumns(self.builder, current)  # type: ignore[assignment]
                    x_train, x_val = with_train, with_val
                elif current is not None:  # "auto": the first configuration without and with the parents' columns decides
                    pool.submit("with", _timed(functools.partial(train_one, 0, with_train, with_val)), order=(-1,))
                    if eager and pool.workers > 1:
                        # The worker the first configuration frees would wait for the decision: it
                        # trains a configuration with the parents' columns (on the Dataset the
                        # second job builds), cancelled if they are not used.
                        spec = _speculative(planned, variants)
                        if spec is not None:
                            cancel = threading.Event()
                            pool.submit(("spec", spec), _timed(functools.partial(
                                _unless_cancelled, functools.partial(train_one, spec, with_train, with_val, cancel), cancel)),
                                order=(-1,))
                    pool.start()
                    firsts: dict[str, Any] = {}
                    while len(firsts) < 2:
                        job_key, result = pool.next_done()
                        if job_key in ("early", "with"):
                            firsts[job_key] = result
                            search.advance()
                        else:
                            speculated = result
                    without, first_with = firsts["early"][1], firsts["with"][1]
                    record = False
                    use = first_with[0] > without[0]
                    current_choice = _current_choice(current, use, without[0], first_with[0])
                    if use:
                        self.builder = WithColumns(self.builder, current)  # type: ignore[assignment]
                        x_train, x_val = with_train, with_val
                    seconds[0], outcome[0] = firsts["with" if use else "early"]
                    if spec is not None and not use:
                        cancel.set()
                        spec = None
                    elif spec is not None and speculated is not None:  # finished already: the configuration's result
                        seconds[spec], outcome[spec] = speculated
                        search.advance()
                refits = _Refits(self, task, x_train, y_train, x_val, y_val, planned, pool)
                refits.seconds = seconds
                todo = [i for i in range(1 if current is None else 0, len(variants)) if i not in outcome and i != spec]
                builders = {todo[i] for i in binned[id(x_train)].builders([planned[i] for i in todo])}
                for i in todo:
                    job = functools.partial(train_one, 0, x_train, x_val) if i == 0 else within_budget(i, x_train, x_val)
                    cost = -int(planned[i].get("num_leaves", 0)) if eager else 0  # more leaves: longer boosting
                    pool.submit(("config", i), _timed(job), order=(0, int(i not in builders), cost, i))
                while len(outcome) < len(variants) or record:
                    job_key, result = pool.next_done()
                    if job_key == "early" and current is not None:  # "on": the record
                        without, record = result[1], False
                        current_choice = _current_choice(current, True, without[0], None)
                        search.advance()
                        continue
                    if job_key == "early":
                        job_key = ("config", 0)
                    elif job_key[0] == "spec":  # used: the configuration's result; cancelled: nothing
                        if job_key[1] != spec:
                            continue
                        job_key = ("config", spec)
                    if job_key[0] == "config":
                        seconds[job_key[1]], outcome[job_key[1]] = result
                        search.advance()
                        if eager:
                            refits.start(_sure_kept(outcome, len(variants), max(1, self.ensemble)), outcome)
                    else:
                        refits.done(job_key, result)
            slots = [i for i in range(len(variants)) if outcome[i] is not None]  # a spent time budget: None
            fitted = [outcome[i][:3] for i in slots]
            trials = [outcome[i][3] for i in slots]
            kept = sorted(range(len(fitted)), key=lambda i: -fitted[i][0])[: max(1, self.ensemble)]
            self.boosters_ = [fitted[i][1] for i in kept]
            refit_info = refits.finish([slots[i] for i in kept], outcome)
        ensemble_score = _score(task.task_type, y_val, np.mean([fitted[i][2] for i in kept], axis=0), classes)
        metric, higher_better = PRIMARY_METRIC[task.task_type]
        self.meta_ = {
            "task_type": task.task_type,
            "entity_table": task.entity_table,
            "entity_key": key,
            "classes": classes,
            "label_range": [float(np.nanmin(y_train)), float(np.nanmax(y_train))] if task.task_type == "regression" else None,
            "kept_trials": kept,
            "iterations": [int(b.best_iteration or b.current_iteration()) for b in self.boosters_],
            "val_metric": metric,
            "val_value": ensemble_score if higher_better else -ensemble_score,
            "trials": trials,
            "current_parents": current_choice,
            "refit": refit_info,
            "columns": list(x_train.columns),
            "train_rows": len(task.train),
            "feature_seconds": feature_seconds,
            "fit_seconds": time.perf_counter() - started,
        }
        self._set_importance()
        return self

    def _params(self, variant: dict[str, Any], objective: dict[str, Any]) -> dict[str, Any]:
        """LightGBM's parameters for configuration ``variant``."""
        params = dict(BASE_PARAMS, **variant, **objective, seed=self.seed, num_threads=self.num_threads, deterministic=True)
        params.update(histogram_layout(params))
        return params

    def boosters_for(self, timestamps: pd.Series | pd.DatetimeIndex | list[Any]) -> list[tuple[np.ndarray, list[Any], list[int | None]]]:
        """Which boosters score which rows: [(row mask, boosters, iterations)]; refitted boosters
        for rows at or after the time every validation label is known, the others for the rest."""
        times = pd.to_datetime(pd.Series(timestamps))
        trained: list[int | None] = list(self.meta_["iterations"])
        refit = (self.meta_.get("refit") or {}).get("from")
        if not self.refit_boosters_ or refit is None:
            return [(np.ones(len(times), dtype=bool), self.boosters_, trained)]
        late = (times >= pd.Timestamp(refit)).to_numpy()
        groups = [(~late, self.boosters_, trained), (late, self.refit_boosters_, [None] * len(self.refit_boosters_))]
        return [g for g in groups if g[0].any()] or [groups[0]]

    def _horizon(self, task: TaskTables) -> pd.Timedelta | None:
        if self.label_horizon is not None:
            return pd.Timedelta(self.label_horizon)
        if task.parsed is not None:
            return label_horizon(task.parsed)
        given = (task.extra or {}).get("label_horizon")
        return pd.Timedelta(given) if given is not None else None

    def _set_importance(self) -> None:
        """Mean gain over the kept boosters, highest first."""
        gains = [b.feature_importance("gain", iteration=it) for b, it in zip(self.boosters_, self.meta_["iterations"])]
        names = self.boosters_[0].feature_name()
        self.feature_importance_ = pd.Series(np.mean(gains, axis=0), index=names, name="gain").sort_values(ascending=False)

    # ------------------------------------------------------------------ inference
    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Binary: P(1) [n]; regression: value [n] clamped to the training label range;
        multiclass: [n, C] probabilities in the order of ``meta_["classes"]``."""
        if not self.boosters_:
            raise ModelError("LightGBMPredictor.predict before fit or load: train it or load a saved model first")
        with stage("features", rows=len(frame)):
            x = self.builder.transform(db, frame, self.meta_["entity_key"])
        if "columns" in self.meta_:  # the training order (wrapping builders may append in another)
            x = x[self.meta_["columns"]]
        out = None
        for rows, boosters, iterations in self.boosters_for(frame["timestamp"]):  # at least one group
            matrices = _matrices(x[rows], boosters)
            part = np.mean([_raw_predict(b, m, it, self.num_threads) for b, it, m in zip(boosters, iterations, matrices)],
                           axis=0)
            if out is None:
                out = np.zeros((len(x), *part.shape[1:]))
            out[rows] = part
        assert out is not None
        if self.meta_["task_type"] == "regression":
            lo, hi = self.meta_["label_range"]
            out = np.clip(out, lo, hi)
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path | str) -> None:
        """Write ``lightgbm_<i>.txt`` (LightGBM text models), ``lightgbm.json`` and ``features.json``."""
        if not self.boosters_:
            raise ModelError("LightGBMPredictor.save before fit: train the model first")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for i, (booster, iteration) in enumerate(zip(self.boosters_, self.meta_["iterations"])):
            booster.save_model(str(directory / _MODEL_FILE.format(i)), num_iteration=iteration)
        for i, booster in enumerate(self.refit_boosters_):
            booster.save_model(str(directory / _REFIT_FILE.format(i)))
        self.builder.save(directory)
        meta = dict(self.meta_, settings=self._settings())
        (directory / _META_FILE).write_text(json.dumps(meta, indent=1, default=json_strict))

    def _settings(self) -> dict[str, Any]:
        return {"seed": self.seed, "time_budget_s": self.time_budget_s, "max_configs": self.max_configs,
                "ensemble": self.ensemble, "num_threads": self.num_threads, "early_stopping_rounds": self.early_stopping_rounds,
                "label_context": self.label_context, "label_horizon": self.label_horizon,
                "current_parents": self.current_parents, "refit": self.refit,
                "search_space": self.search_space}

    @classmethod
    def load(cls, directory: Path | str) -> LightGBMPredictor:
        import lightgbm as lgb

        directory = Path(directory)
        if not (directory / _META_FILE).exists():
            raise ModelError(f"{directory / _META_FILE} is missing; point --model at a directory written by LightGBMPredictor.save")
        meta = json.loads((directory / _META_FILE).read_text())
        model = cls(builder=TemporalFeatureBuilder.load(directory), **meta.pop("settings"))
        for extra in (LabelContext.load(directory), CurrentParents.load(directory)):  # in fit's order
            if extra is not None:
                model.builder = WithColumns(model.builder, extra)  # type: ignore[assignment]
        paths = [directory / _MODEL_FILE.format(i) for i in range(len(meta["iterations"]))]
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise ModelError(f"{missing[0]} is missing; the model directory is incomplete, save the model again")
        model.boosters_ = [lgb.Booster(model_file=str(p)) for p in paths]
        refit = meta.get("refit") or {}
        refit_paths = [directory / _REFIT_FILE.format(i) for i in range(len(refit.get("rounds", [])))]
        missing = [p for p in refit_paths if not p.exists()]
        if missing:
            raise ModelError(f"{missing[0]} is missing; the model directory is incomplete, save the model again")
        model.refit_boosters_ = [lgb.Booster(model_file=str(p)) for p in refit_paths]
        model.meta_ = meta
        model._set_importance()
        return model


def _current_choice(current: CurrentParents, used: bool, without: float, with_them: float | None) -> dict[str, Any]:
    """The record of the current parents' columns: used or not, and the first configuration's scores."""
    return {"parents": [link.parent for link in current.links_], "columns": len(current.columns_), "used": used,
            "val_without": without, "val_with": with_them}


def _encode_labels(task: TaskTables) -> tuple[np.ndarray, np.ndarray, list[Any] | None]:
    """Training and validation labels as LightGBM wants them (class indices for multiclass)."""
    for split in ("train", "val"):
        if "label" not in task.split(split).columns:
            raise QueryError(f"task {split} table has no 'label' column; give [{task.entity_key!r}, 'timestamp', 'label']")
    if task.task_type != "multiclass":
        return (task.train["label"].to_numpy(dtype=float), task.val["label"].to_numpy(dtype=float), None)
    classes = sorted(pd.unique(task.train["label"].dropna()).tolist())
    index = {c: i for i, c in enumerate(classes)}
    y_train = task.train["label"].map(index).to_numpy(dtype=float)
    y_val = task.val["label"].map(index).to_numpy(dtype=float)  # classes unseen in training: NaN, skipped
    return y_train, y_val, [plain(c) for c in classes]


def _objective(task_type: str, classes: list[Any] | None) -> dict[str, Any]:
    """LightGBM objective for the task's primary metric (class weighting is a searched option)."""
    if task_type == "binary":
        return {"objective": "binary"}
    if task_type == "regression":
        return {"objective": "regression_l1"}  # the metric is MAE
    assert classes is not None
    return {"objective": "multiclass", "num_class": len(classes)}


def _matrices(x: pd.DataFrame, boosters: list[Any]) -> list[Any]:
    """``x`` as each booster reads it, converted once per category layout rather than once per
    booster (LightGBM's pandas conversion cost more than its trees on a served row); ``x`` itself
    where that conversion is not available."""
    try:
        from lightgbm.basic import _data_from_pandas
    except ImportError:
        return [x] * len(boosters)
    converted: dict[str, Any] = {}
    out = []
    for b in boosters:
        layout = repr(getattr(b, "pandas_categorical", None))
        if layout not in converted:
            try:
                converted[layout] = _data_from_pandas(x, "auto", "auto", b.pandas_categorical)[0]
            except (TypeError, ValueError, AttributeError):
                converted[layout] = x
        out.append(converted[layout])
    return out


def _raw_predict(booster: Any, x: pd.DataFrame | np.ndarray, iteration: int | None = None,
                 num_threads: int | None = None) -> np.ndarray:
    # A loaded booster forgets its training threads: without them OpenMP spins on every core.
    threads = {"num_threads": num_threads} if num_threads else {}
    out = booster.predict(x, num_iteration=iteration or booster.best_iteration or None, **threads)
    return np.asarray(out, dtype=float)


def _score(task_type: str, y: np.ndarray, pred: np.ndarray, classes: list[Any] | None) -> float:
    """The primary metric, signed so that higher is better."""
    metric, higher_better = PRIMARY_METRIC[task_type]
    if task_type == "binary":
        value = binary_metrics(y, pred)[metric]
        return value if not np.isnan(value) else 0.5
    if task_type == "regression":
        return -regression_metrics(y, pred)[metric]
    assert classes is not None
    return multiclass_metrics(y.astype(int), pred, list(range(len(classes))))[metric]
