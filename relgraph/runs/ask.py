"""``relgraph ask``: a predictive query answered at query time from its own history, with no
training run and no run folder.

    >>> import relgraph
    >>> answer = relgraph.ask("sqlite:///shop.db", "PREDICT COUNT(orders.*, 0, 30, days) = 0 "
    ...                       "FOR EACH customers.customer_id", top=10)
    >>> answer.attrs["backtest"]["text"], answer.attrs["context"]["text"]

How an answer at ``at`` is made (ARCHITECTURE.md says why):

1. Context: labelled examples of the query's own history whose labels are known by ``at`` (every
   window the label and ASSUMING read ends by ``at``): the prediction times of
   :func:`relgraph.query.split_timestamps` before ``at``, most recent first, as
   :func:`relgraph.query.make_training_table` labels them, until :data:`CONTEXT_ROWS` rows, or the
   latest :data:`MIN_PERIODS` periods whole where they hold more (up to :data:`CONTEXT_ROWS_MAX`);
   past the budget, each period keeps its share, every class at least a part of it (:func:`draw_context`).
2. One LightGBM configuration (:data:`ASK_CONFIG`; no search, no refit) over the temporal aggregates of
   the context rows and the entity's current parents (``baselines.current_parents``, where the schema
   has them), its rounds stopped early on the most recent periods; features are computed only for the
   context rows and the asked entities.
3. Backtest: the same procedure at an earlier time, scored on the rows of the latest prediction
   times whose outcomes are known by ``at`` (at least :data:`BACKTEST_MIN_ROWS` of them: one period
   where events are dense, a season where they are sparse), beside the trivial baseline
   (:class:`~relgraph.baselines.rules.TrivialBaseline`) fitted on the same context.
4. Evidence (``explain=True``): TreeSHAP contributions by table, feature and row
   (:func:`relgraph.runs.explain.tabular.explain_lightgbm`), as ``relgraph explain`` gives them.

Nothing is written anywhere; only rows with time <= ``at`` are read for features, and labels only
from windows that end by ``at``.
"""

from __future__ import annotations

import contextvars
import copy
import time
import weakref
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.baselines.current_parents import CurrentParents
from relgraph.baselines.extra_columns import WithColumns, _join
from relgraph.baselines.feature_small import numpy_path
from relgraph.baselines.lightgbm_model import (
    BASE_PARAMS,
    LightGBMPredictor,
    _encode_labels,
    _objective,
    _raw_predict,
)
from relgraph.baselines.lightgbm_search import in_parallel, usable_cores
from relgraph.baselines.rules import TrivialBaseline
from relgraph.database import Database, connect
from relgraph.errors import QueryError, RelgraphError
from relgraph.metrics import PRIMARY_METRIC, choose_threshold, task_metrics
from relgraph.query import parse, validate
from relgraph.query.ast import Query
from relgraph.query.task import TaskTables
from relgraph.runs.ask_context import (  # noqa: F401  (re-exported: relgraph.runs.ask's API)
    CONTEXT_ROWS,
    CONTEXT_ROWS_MAX,
    MIN_PERIODS,
    context_end,
    context_times,
    draw_context,
    known_horizon,
    recent_labelled_rows,
    stratified_sample,
)
from relgraph.runs.explain.run import check_at, check_ids, parse_at
from relgraph.runs.folder import prediction_frame
from relgraph.runs.tasks import prediction_rows

#: Share of the context rows, the most recent periods, that stop the boosting rounds early (0.1
#: rather than 0.2 keeps more recent labels for fitting: rel-f1 position 2.72 against 2.78 MAE).
HOLDOUT_SHARE = 0.1
#: Backtest rows scored at least (recent periods are added until they hold as many) ...
BACKTEST_MIN_ROWS = 200
#: ... and at most (a seeded sample past it).
BACKTEST_ROWS = 5_000
#: Answers explained at most with ``explain=True``.
MAX_EXPLAINED = 10
#: The one configuration, over ``lightgbm_model.BASE_PARAMS``: a faster learning rate than the
#: search's (tens of rounds on 5,000 rows) and leaves that small contexts can fill; bin bounds
#: from 1,000 sampled rows (Dataset construction ~40 % cheaper, backtests unchanged within noise:
#: ``benchmarks/ask_lgb.py``), row-wise histograms (col-wise was not faster).
ASK_CONFIG: dict[str, Any] = {"learning_rate": 0.1, "min_data_in_leaf": 40, "bin_construct_sample_cnt": 1000,
                              "force_row_wise": True}
#: The feature builder's settings for ask (over ``TemporalFeatureBuilder``'s defaults and :func:`ask_depth`).
ASK_FEATURES: dict[str, Any] = {}
#: Stream work (stream rows x value columns, ``TemporalFeatureBuilder.stream_cells``) of the
#: depth-2 plan past which ask reads depth 1 (no children's parents): nycflights13 planes
#: (336,776 flights, 8.4M cells; depth 1: 4.0M) answered in 4.4 s at depth 2 against 2.6 s, with
#: the depth-1 backtest no worse (AUROC 0.677 against 0.671); rel-f1 drivers (0.70M), the demo
#: shop's customers (0.24M) and Stack users (0.06M) stay at depth 2.
ASK_DEPTH2_CELLS = 2_000_000
#: Whether ask adds the entity's current parents (``baselines.current_parents``) where the schema has them.
ASK_CURRENT_PARENTS = True
#: Feature frames up to this many distinct rows are computed by the builder's compiled NumPy path
#: (``feature_small.numpy_path``: equal to its SQL batch path within 1e-9) rather than its SQL.
ASK_NUMPY_ROWS = 200_000
#: Rounds without improvement on the held-out periods before boosting stops.
EARLY_STOPPING_ROUNDS = 30
#: Task types ``ask`` answers.
ANSWERED = ("binary", "regression", "multiclass")


class AskTimeoutError(RelgraphError):
    """An answer took longer than its time limit."""


class _Deadline:
    """Checked between the stages of an answer: past ``limit_s`` seconds, one line says where."""

    def __init__(self, limit_s: float | None) -> None:
        self.limit_s = limit_s
        self.start = time.perf_counter()

    def check(self, stage: str) -> None:
        if self.limit_s is not None and time.perf_counter() - self.start > self.limit_s:
            raise AskTimeoutError(f"the answer took longer than its {self.limit_s:g} s limit (stopped after {stage})")




class AskModel:
    """One answer's model: a context drawn at ``at`` and one LightGBM fitted on it.

    Args:
        query: PQL text or a parsed query (binary, regression or multiclass).
        context_rows: context rows at most; ``None``: :data:`CONTEXT_ROWS`, grown to the latest
            :data:`MIN_PERIODS` periods whole up to :data:`CONTEXT_ROWS_MAX` (:func:`draw_context`).
        seed: LightGBM's and the context sample's seed.
        num_threads: LightGBM threads.
    """

    def __init__(self, query: str | Query, context_rows: int | None = None, seed: int = 0, num_threads: int = 1) -> None:
        self.query = query
        self.context_rows = context_rows
        self.seed = seed
        self.num_threads = num_threads
        self.at_: pd.Timestamp | None = None
        self.context_: pd.DataFrame | None = None
        self.model_: LightGBMPredictor | None = None
        self.task_: TaskTables | None = None

    def draw(self, db: Database, at: pd.Timestamp) -> AskModel:
        """Draw the context known by ``at`` (``context_``, ``task_``: train = earlier periods, val =
        the latest ones, which stop the rounds); :meth:`fit` does it when not done."""
        parsed = parse(self.query) if isinstance(self.query, str) else self.query
        resolved = validate(parsed, db.schema)
        if resolved.task_type not in ANSWERED:
            raise QueryError(f"ask does not answer {resolved.task_type} queries yet; train a model with relgraph train")
        if self.context_rows is not None and self.context_rows < 2 * MIN_PERIODS:
            raise QueryError(f"context_rows={self.context_rows}: give at least {2 * MIN_PERIODS} rows")
        context = draw_context(db, parsed, pd.Timestamp(at), self.context_rows or CONTEXT_ROWS, self.seed,
                               grow_to=self.context_rows)
        if resolved.task_type != "regression" and context["label"].nunique() < 2:
            raise QueryError(f"every labelled row before {at} has the label {context['label'].iloc[0]!r}; "
                             "there is nothing to learn from the history for this query")
        train, held = _hold_out_latest(context)
        self.task_ = TaskTables(resolved.task_type, resolved.entity_table, resolved.entity_key, train=train, val=held,
                                test=held.iloc[:0], query=str(parsed), parsed=parsed)
        self.at_, self.context_ = pd.Timestamp(at), context
        return self

    def fit(self, db: Database, at: pd.Timestamp, builder: Any = None,
            features: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> AskModel:
        """Draw the context known by ``at`` (unless :meth:`draw` did) and fit the model on it.

        ``builder``: a feature builder fitted already, at ``at`` or earlier (default: one fitted
        here on the context's training rows, :func:`fit_features`); ``features``: its features of
        ``task_.train`` and ``task_.val`` when computed already (one pass shared with the backtest)."""
        if self.task_ is None or self.at_ != pd.Timestamp(at):
            self.draw(db, at)
        task = self.task_
        assert task is not None
        if builder is None:
            builder, x_train = fit_features(db, task, min(2, self.num_threads))
            x_val = builder.transform(db, task.val, task.entity_key)
        elif features is not None:
            x_train, x_val = features
        else:
            x_train, x_val = (builder.transform(db, f, task.entity_key) for f in (task.train, task.val))
        self.model_ = _boosted(builder, task, x_train, x_val, self.seed, self.num_threads)
        return self

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """As :meth:`LightGBMPredictor.predict` (binary: P(1); regression: value; multiclass: [n, C])."""
        if self.model_ is None:
            raise QueryError("AskModel.predict before fit: fit it at a time first")
        with numpy_path(ASK_NUMPY_ROWS):
            return self.model_.predict(db, frame)

    @property
    def classes_(self) -> list[Any] | None:
        return None if self.model_ is None else self.model_.classes_

    def context_summary(self) -> dict[str, Any]:
        """Rows, periods, time range and class balance (or label mean) of the context."""
        assert self.context_ is not None and self.task_ is not None
        ctx = self.context_
        times = pd.to_datetime(ctx["timestamp"])
        out: dict[str, Any] = {
            "rows": int(len(ctx)), "periods": int(times.nunique()),
            "from": times.min().isoformat(), "to": times.max().isoformat(),
            "entities": int(ctx[self.task_.entity_key].nunique()),
        }
        if self.task_.task_type == "regression":
            out["label_mean"] = float(ctx["label"].mean())
        else:
            share = ctx["label"].value_counts(normalize=True).sort_index()
            out["class_balance"] = {str(k): round(float(v), 4) for k, v in share.items()}
        out["text"] = (f"context {out['rows']:,} rows from {times.min():%Y-%m-%d} to {times.max():%Y-%m-%d} "
                       f"({out['periods']} periods)")
        return out


def _hold_out_latest(context: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(earlier rows, the most recent periods holding about :data:`HOLDOUT_SHARE` of the rows; at least one)."""
    times = pd.to_datetime(context["timestamp"])
    periods = np.sort(times.unique())
    if len(periods) < 2:
        raise QueryError(f"the history known by then holds a single prediction time ({periods[0]}); "
                         "ask at a later time, when at least two windows of the query have ended")
    counts = times.value_counts().reindex(periods).to_numpy()
    # Periods from the latest back until they hold the share; the earliest period always trains.
    held = int(np.searchsorted(np.cumsum(counts[::-1]), HOLDOUT_SHARE * len(context)) + 1)
    cut = periods[-min(held, len(periods) - 1)]
    late = (times >= cut).to_numpy()
    return context[~late].reset_index(drop=True), context[late].reset_index(drop=True)


def _score(task_type: str, labels: pd.Series, pred: np.ndarray, classes: list[Any] | None) -> float:
    metric = PRIMARY_METRIC[task_type][0]
    return float(task_metrics(task_type, labels, pred, classes)[metric])


def backtest(db: Database, query: Query, at: pd.Timestamp, context_rows: int | None = None, seed: int = 0,
             num_threads: int = 1) -> dict[str, Any]:
    """The answer's procedure at an earlier time, scored where its outcomes are known by ``at``.

    The scored rows are those of the latest prediction times known by ``at`` that hold
    :data:`BACKTEST_MIN_ROWS` rows (:func:`recent_labelled_rows`; a seeded sample past
    :data:`BACKTEST_ROWS`); the backtest's ``at`` is the earliest of those times, so its model's
    context ends a label window before any scored row; the trivial baseline is fitted on that
    same context."""
    return fit_answer(db, query, at, None, context_rows, seed, num_threads, with_backtest=True)[0] or {}


def _backtest_rows(db: Database, query: Query, at: pd.Timestamp, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The backtest's scored rows and its record so far (with a ``text`` when it cannot run)."""
    resolved = validate(query, db.schema)
    metric = PRIMARY_METRIC[resolved.task_type][0]
    rows = recent_labelled_rows(db, query, at, BACKTEST_MIN_ROWS)
    if len(rows) > BACKTEST_ROWS:
        rows = rows.iloc[np.sort(np.random.default_rng(seed).choice(len(rows), BACKTEST_ROWS, replace=False))]
    if rows.empty or resolved.task_type != "regression" and rows["label"].nunique() < 2:
        return rows, {"at": None, "metric": metric, "value": None, "rows": int(len(rows)),
                      "text": f"no backtest: the {len(rows)} labelled rows known by {at:%Y-%m-%d} have one label"}
    when = pd.Timestamp(rows["timestamp"].min())
    return rows.reset_index(drop=True), {"at": when.isoformat(), "metric": metric, "periods": int(rows["timestamp"].nunique())}


def _scored_backtest(db: Database, model: AskModel, rows: pd.DataFrame, pred: np.ndarray, out: dict[str, Any]) -> dict[str, Any]:
    """``out`` with the backtest's metric, the trivial baseline's and the chosen threshold."""
    assert model.task_ is not None
    task_type, classes, when = model.task_.task_type, model.classes_, pd.Timestamp(out["at"])
    trivial = TrivialBaseline(labels="training").fit(db, model.task_)
    labels = rows["label"]
    if task_type == "multiclass":
        known = labels.isin(classes or [])  # classes the context never saw cannot be scored
        rows, labels, pred = rows[known.to_numpy()], labels[known], pred[known.to_numpy()]
    value = _score(task_type, labels, pred, classes)
    base = _score(task_type, labels, trivial.predict(db, rows), classes)
    threshold = choose_threshold(labels.to_numpy(), pred) if task_type == "binary" else 0.5
    unit = {"auroc": "AUROC", "mae": "MAE", "macro_f1": "macro F1"}[out["metric"]]
    out = dict(out, value=value, trivial=base, rows=int(len(rows)), threshold=float(threshold),
               context=model.context_summary())
    out["text"] = (f"backtest at {when:%Y-%m-%d}: {unit} {value:.3f} vs trivial {base:.3f} on {len(rows):,} rows"
                   + (f" ({out['periods']} periods)" if out["periods"] > 1 else ""))
    higher_better = PRIMARY_METRIC[task_type][1]
    out["beats_trivial"] = bool(value > base if higher_better else value < base)
    if not out["beats_trivial"]:  # say so where it is read: these answers are no better than the base rate
        out["text"] += "; NO BETTER than the trivial baseline: do not act on these answers"
    return out


def fit_answer(db: Database, query: Query, at: pd.Timestamp, asked: pd.DataFrame | None, context_rows: int | None, seed: int,
                num_threads: int, with_backtest: bool) -> tuple[dict[str, Any] | None, AskModel | None, np.ndarray | None]:
    """(backtest record, the answer's model, its predictions of ``asked``) from ONE feature pass.

    The feature builder is fitted once, on the backtest context's training rows (the earlier
    time: the answer's builder sees no later row than the backtest's, so nothing leaks), and one
    transform computes the features of every other row: the backtest's held-out and scored rows,
    the answer's context and the asked rows, each (entity, time) once. Without a backtest (or
    where its context cannot be drawn) the builder is fitted on the answer's own context.
    ``asked`` None: the backtest only."""
    with numpy_path(ASK_NUMPY_ROWS):
        return _fit_answer(db, query, at, asked, context_rows, seed, num_threads, with_backtest)


def _fit_answer(db: Database, query: Query, at: pd.Timestamp, asked: pd.DataFrame | None, context_rows: int | None, seed: int,
                num_threads: int, with_backtest: bool) -> tuple[dict[str, Any] | None, AskModel | None, np.ndarray | None]:
    test, early, rows = None, None, None
    # Two fits side by side, each with half the threads (two of one thread: exactly the one-thread answer).
    per_fit = max(1, num_threads // 2) if with_backtest and asked is not None else num_threads
    if with_backtest:
        rows, test = _backtest_rows(db, query, at, seed)
        if "text" not in test:
            try:
                early = AskModel(query, context_rows, seed, per_fit).draw(db, pd.Timestamp(test["at"]))
            except QueryError as err:
                test = dict(test, value=None, rows=int(len(rows)), text=f"no backtest at {pd.Timestamp(test['at']):%Y-%m-%d}: {err}")
    model = AskModel(query, context_rows, seed, per_fit).draw(db, at) if asked is not None else None
    if early is None:
        if model is None:
            return test, None, None
        model.fit(db, at)
        return test, model, model.predict(db, asked)  # type: ignore[arg-type]
    assert early.task_ is not None and rows is not None
    key = early.task_.entity_key
    builder, x_early = fit_features(db, early.task_, 2 if num_threads >= 2 else 1)
    frames = [early.task_.val, rows] + ([] if model is None else [model.task_.train, model.task_.val, asked])  # type: ignore[union-attr]
    x = features_of(db, builder, key, frames)
    if model is None:
        early.fit(db, early.at_, builder, (x_early, x[0]))  # type: ignore[arg-type]
        return _scored_backtest(db, early, rows, predict_features(early, x[1]), test), None, None  # type: ignore[arg-type]
    # Side by side where there are two threads (each model made with half: LightGBM releases the GIL).
    in_parallel([lambda: early.fit(db, early.at_, builder, (x_early, x[0])),  # type: ignore[arg-type]
                 lambda: model.fit(db, at, builder, (x[2], x[3]))], 2 if num_threads >= 2 else 1, lambda: None)
    test = _scored_backtest(db, early, rows, predict_features(early, x[1]), test)  # type: ignore[arg-type]
    return test, model, predict_features(model, x[4])


def fit_features(db: Database, task: TaskTables, workers: int = 1) -> tuple[Any, pd.DataFrame]:
    """(a feature builder fitted on ``task.train``, its features of ``task.train``): the temporal
    aggregates and, where the schema has them, the entity's current parents; with ``workers`` 2,
    the two fitted side by side (each thread on its own SQL connection; the same features)."""
    key = task.entity_key
    builder: Any = TemporalFeatureBuilder(**{"depth": ask_depth(db, task.entity_table), **ASK_FEATURES})
    current = CurrentParents()
    jobs = [_in_context(db, lambda: builder.fit_transform(db, task.entity_table, task.train, key, task.task_type))]
    if ASK_CURRENT_PARENTS:
        jobs.append(_in_context(db, lambda: current.fit(db, task.entity_table, task.train, key, task.task_type)))
    x = in_parallel(jobs, workers, lambda: None)[0]
    if not ASK_CURRENT_PARENTS or not current.columns_:
        return builder, x
    return WithColumns(builder, current), _join(x, current.columns_for(db, task.train, key))


def _in_context(db: Database, job: Any) -> Any:
    """``job`` run in a copy of this thread's context (the NumPy feature path's setting goes with it),
    on a SQL connection of its own (``Database.own_connection``: another job may run SQL at once)."""
    context = contextvars.copy_context()

    def run() -> Any:
        with db.own_connection():
            return job()
    return lambda: context.run(run)


def ask_depth(db: Database, entity_table: str) -> int:
    """The feature builder's depth for ``ask``: 2, or 1 where the depth-2 streams' work passes
    :data:`ASK_DEPTH2_CELLS` (an answer in seconds on large event tables)."""
    return 2 if TemporalFeatureBuilder(depth=2).stream_cells(db, entity_table) <= ASK_DEPTH2_CELLS else 1


def features_of(db: Database, builder: Any, key: str, frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """``builder``'s features of each frame's ``[key, "timestamp"]`` rows, from one transform of
    the distinct (entity, time) pairs among them all."""
    stacked = pd.concat([f[[key, "timestamp"]] for f in frames], ignore_index=True)
    stacked["timestamp"] = pd.to_datetime(stacked["timestamp"])
    distinct = stacked.drop_duplicates().reset_index(drop=True)
    x = builder.transform(db, distinct, key)
    where = pd.MultiIndex.from_frame(distinct).get_indexer(pd.MultiIndex.from_frame(stacked))
    out, start = [], 0
    for f in frames:
        out.append(x.iloc[where[start:start + len(f)]].reset_index(drop=True))
        start += len(f)
    return out


def predict_features(model: AskModel, x: pd.DataFrame) -> np.ndarray:
    """As :meth:`AskModel.predict`, from features computed already."""
    fitted = model.model_
    assert fitted is not None
    out = _raw_predict(fitted.boosters_[0], x[fitted.meta_["columns"]], fitted.meta_["iterations"][0])
    if fitted.meta_["task_type"] == "regression":
        out = np.clip(out, *fitted.meta_["label_range"])
    return out


def _boosted(builder: Any, task: TaskTables, x_train: pd.DataFrame, x_val: pd.DataFrame, seed: int,
             num_threads: int) -> LightGBMPredictor:
    """A :class:`LightGBMPredictor` of one booster (:data:`ASK_CONFIG`, rounds stopped early on
    ``task.val``) over features computed already by ``builder``, which it keeps for predicting."""
    import lightgbm as lgb

    started = time.perf_counter()
    y_train, y_val, classes = _encode_labels(task)
    ok = ~pd.isna(y_val)
    x_val, y_val = x_val[ok], y_val[ok]
    if len(y_val) == 0:
        raise QueryError("the context's latest periods have no labelled rows to stop the boosting rounds on")
    params = dict(BASE_PARAMS, **ASK_CONFIG, **_objective(task.task_type, classes), seed=seed, num_threads=num_threads,
                  deterministic=True)
    train_set = lgb.Dataset(x_train, y_train, free_raw_data=False)
    booster = lgb.train(params, train_set, num_boost_round=3000, valid_sets=[lgb.Dataset(x_val, y_val, reference=train_set)],
                        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)])
    model = LightGBMPredictor(seed=seed, max_configs=1, ensemble=1, num_threads=num_threads, builder=builder,
                              early_stopping_rounds=EARLY_STOPPING_ROUNDS, max_train_rows=None, refit=False,
                              search_space=[ASK_CONFIG])
    model.boosters_ = [booster]
    model.meta_ = {
        "task_type": task.task_type, "entity_table": task.entity_table, "entity_key": task.entity_key, "classes": classes,
        "label_range": [float(np.nanmin(y_train)), float(np.nanmax(y_train))] if task.task_type == "regression" else None,
        "kept_trials": [0], "iterations": [int(booster.best_iteration or booster.current_iteration())],
        "trials": [{"params": {k: v for k, v in params.items() if k not in ("verbose", "num_threads")},
                    "best_iteration": booster.best_iteration}],
        "refit": None, "columns": list(x_train.columns), "train_rows": len(task.train),
        "fit_seconds": time.perf_counter() - started,
    }
    model._set_importance()
    return model


def ask(
    db: str | Database,
    query: str,
    at: object = None,
    ids: list[Any] | None = None,
    top: int | None = None,
    explain: bool = False,
    *,
    context_rows: int | None = None,
    with_backtest: bool = True,
    seed: int = 0,
    num_threads: int | None = None,
    time_limit_s: float | None = None,
    schema: str | None = None,
) -> pd.DataFrame:
    """Answer ``query`` at ``at`` (default: where the target's rows end, ``runs.explain.run.default_at``) for ``ids``, the ``top`` entities
    by score, or (neither) every entity the query selects then; highest scores first unless ``ids``.

    Returns the predictions (as ``relgraph predict``: binary ``probability`` / ``prediction``,
    regression ``prediction``, multiclass ``prediction`` / ``probability``) with ``.attrs``:
    ``"backtest"`` (metric, value, trivial, at, rows, text), ``"context"`` (rows, periods, from, to,
    class balance or label mean, text), ``"seconds"`` and, with ``explain``, ``"evidence"`` (per id,
    up to :data:`MAX_EXPLAINED`: TreeSHAP contributions by table, feature and row, and summary lines).
    ``time_limit_s``: stop with :class:`AskTimeoutError` once an answer's stage ends past it.
    ``num_threads``: LightGBM threads in all (default: two where the process may use two cores;
    the backtest's and the answer's models are fitted side by side, each with half: the answer is
    the same as with one thread).
    """
    started = time.perf_counter()
    deadline = _Deadline(time_limit_s)
    num_threads = min(2, usable_cores()) if num_threads is None else num_threads
    database = db if isinstance(db, Database) else connect(db, schema=schema)
    parsed = parse(query)
    resolved = validate(parsed, database.schema)
    if resolved.task_type not in ANSWERED:
        raise QueryError(f"ask does not answer {resolved.task_type} queries yet; train a model with relgraph train")
    if ids is not None and top is not None:
        raise QueryError("give ids or top, not both")
    if top is not None and top < 1:
        raise QueryError(f"top={top}: give a positive number of entities")
    at_ts = check_at(database, parse_at(at, database, parsed))
    table, key = resolved.entity_table, resolved.entity_key
    if ids is not None:
        keys = check_ids(database, SimpleNamespace(entity_table=table, entity_key=key), list(ids), at_ts)
        rows = pd.DataFrame({key: keys, "timestamp": at_ts})
    else:
        rows = prediction_rows(database, str(parsed), table, key, at_ts)
        if rows.empty:
            raise QueryError(f"no {table} row is selected by the query at {at_ts}; check its WHERE condition or --at")
    fitted = _ANSWERS.setdefault(database, {})
    memo_key = (str(parsed), at_ts, context_rows, seed, num_threads, with_backtest)
    if memo_key in fitted:
        test, model = fitted[memo_key]
        pred = model.predict(database, rows)
    else:
        test, model, pred = fit_answer(database, parsed, at_ts, rows, context_rows, seed, num_threads, with_backtest)
        _remember(fitted, memo_key, (test, model))
    deadline.check("fitting the context and predicting")
    threshold = (test or {}).get("threshold", 0.5)
    answer = prediction_frame({"task_type": resolved.task_type, "entity_key": key}, rows, pred, threshold, model.classes_)
    if ids is None:
        score = answer["probability"] if "probability" in answer else answer["prediction"]
        answer = answer.iloc[np.argsort(-score.to_numpy(dtype=float), kind="stable")].reset_index(drop=True)
        answer = answer.head(top) if top is not None else answer
    deadline.check("predicting")
    answer.attrs["task_type"] = resolved.task_type
    answer.attrs["entity"] = f"{table}.{key}"
    answer.attrs["at"] = at_ts.isoformat()
    answer.attrs["context"] = model.context_summary()
    answer.attrs["backtest"] = copy.deepcopy(test)  # the remembered one stays as computed
    if explain:
        answer.attrs["evidence"] = _evidence(model, database, answer, key, at_ts)
    answer.attrs["seconds"] = round(time.perf_counter() - started, 3)
    return answer


#: Per database object (a changed source is a new one): the latest answers' models and backtests,
#: so the same question about other entities (a running service's next request) only predicts.
_ANSWERS: weakref.WeakKeyDictionary[Database, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()
#: Models and backtests kept per database.
MAX_REMEMBERED = 8


def _remember(memo: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> Any:
    while len(memo) >= MAX_REMEMBERED:
        memo.pop(next(iter(memo)))  # the oldest first
    memo[key] = value
    return value


def _evidence(model: AskModel, db: Database, answer: pd.DataFrame, key: str, at: pd.Timestamp) -> list[dict[str, Any]]:
    """TreeSHAP evidence of the first :data:`MAX_EXPLAINED` answers (``relgraph explain``'s LightGBM path)."""
    from relgraph.runs.explain import summary_lines
    from relgraph.runs.explain.tabular import _json_value, explain_lightgbm

    assert model.model_ is not None and model.task_ is not None
    out = []
    head = answer.head(MAX_EXPLAINED)
    raw = model.predict(db, head[[key, "timestamp"]])
    for i, record in enumerate(head.to_dict("records")):
        found = explain_lightgbm(model.model_, db, record[key], at, raw[i])
        exp = {"entity": {"table": model.task_.entity_table, "key": key, "id": _json_value(record[key])},
               "at": at.isoformat(), "model": "ask (lightgbm)",
               "prediction": {k: _json_value(v) for k, v in record.items() if k not in (key, "timestamp", "label")},
               "tables": found["tables"], "units": found["units"],
               "features": [{k: v for k, v in f.items() if k != "rows"} for f in found["features"][:5]],
               "rows": found["rows"][:5]}
        exp["summary"] = summary_lines(exp)
        out.append(exp)
    return out
