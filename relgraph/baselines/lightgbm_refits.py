"""The LightGBM search's jobs beyond the configurations themselves (used by
:class:`~relgraph.baselines.lightgbm_model.LightGBMPredictor`'s ``fit``): the refits of the kept
configurations, each started as soon as its configuration is sure to be kept (:func:`_sure_kept`,
:class:`_Refits`), and the speculative configuration trained while ``current_parents="auto"``
decides, cancelled by a callback when it is not needed (:func:`_speculative`, :func:`_cancel_callback`)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from relgraph.baselines.lightgbm_search import Binnings, JobPool, dataset_group
from relgraph.query.task import TaskTables
from relgraph.stages import stage

if TYPE_CHECKING:
    from relgraph.baselines.lightgbm_model import LightGBMPredictor


class _Cancelled(Exception):
    """A speculative configuration no longer needed (see ``LightGBMPredictor.fit``)."""


def _cancel_callback(cancel: threading.Event) -> Callable[[Any], None]:
    """A LightGBM callback that stops training (raising :class:`_Cancelled`) once ``cancel`` is
    set; until then it does nothing, so the booster is the one trained without it."""
    def check(env: Any) -> None:
        if cancel.is_set():
            raise _Cancelled
    check.before_iteration = True  # type: ignore[attr-defined]
    check.order = 0  # type: ignore[attr-defined]
    return check


def _unless_cancelled(job: Callable[[], Any], cancel: threading.Event) -> Any:
    """``job()``, or None when ``cancel`` is set before or while it runs."""
    if cancel.is_set():
        return None
    try:
        return job()
    except _Cancelled:
        return None


def _speculative(planned: list[dict[str, Any]], variants: list[dict[str, Any]]) -> int | None:
    """The configuration to train before "auto" decides on the current parents' columns: of those
    after the first that share its Dataset (which the first's job with the columns builds), the
    one with the most leaves (the longest, as the search orders them)."""
    same = [i for i in range(1, len(variants)) if dataset_group(planned[i]) == dataset_group(planned[0])]
    return min(same, key=lambda i: (-int(planned[i].get("num_leaves", 0)), i)) if same else None


def _timed(job: Callable[[], Any]) -> Callable[[], tuple[float, Any]]:
    """``job`` returning ``(its thread's CPU seconds, its result)``."""
    def timed() -> tuple[float, Any]:
        started = time.thread_time()
        result = job()
        return time.thread_time() - started, result
    return timed


def _sure_kept(outcome: dict[int, Any], candidates: int, keep: int) -> list[int]:
    """The finished configurations sure to be among the ``keep`` kept whatever the unfinished ones
    score: fewer than ``keep`` rank above them even if every unfinished one did (ranked as ``fit``
    keeps them: higher validation score first, ties in search order; a skipped one, None, is not a
    candidate). None where a score is NaN (``fit``'s sort is then no order to foresee)."""
    scores = {i: result[0] for i, result in outcome.items() if result is not None}
    if any(np.isnan(score) for score in scores.values()):
        return []
    unfinished = candidates - len(outcome)
    return [i for i, score in scores.items()
            if sum(other > score or (other == score and j < i) for j, other in scores.items()) + unfinished < keep]


class _Refits:
    """The refits of the kept configurations on training + validation rows (``LightGBMPredictor``'s
    ``refit``), trained in the search's pool: each as soon as its configuration is sure to be kept
    (:meth:`start`, while the search's last configurations train), the others when the search has
    chosen (:meth:`finish`). Each is the booster a refit after the search gives: the same
    parameters and rounds on a Dataset of the same rows and bins (one per group of configurations,
    ``Binnings``, built by a job of its own before its group's refits start, so no worker waits on
    another's build), its result placed in the kept order."""

    def __init__(self, model: LightGBMPredictor, task: TaskTables, x_train: pd.DataFrame, y_train: np.ndarray,
                 x_val: pd.DataFrame, y_val: np.ndarray, planned: list[dict[str, Any]], pool: JobPool) -> None:
        model.refit_boosters_ = []
        self.model, self.pool = model, pool
        #: Each configuration's search CPU seconds: with its rounds, the estimate of its refit's.
        self.seconds: dict[int, float] = {}
        self.boosters: dict[int, Any] = {}
        self.started: set[int] = set()
        self.waiting: dict[tuple[str, ...], list[tuple[int, Any]]] = {}
        self.built: set[tuple[str, ...]] = set()
        self.record: dict[str, Any] | None = None
        self.active = False
        if not model.refit:
            return
        horizon = model._horizon(task)
        if horizon is None:
            self.record = {"skipped": "the label horizon is unknown, so the time every validation label is known is too"}
            return
        self.active = True
        self.known_from = pd.Timestamp(pd.to_datetime(task.val["timestamp"]).max()) + horizon
        x_all = pd.concat([x_train, x_val], ignore_index=True)
        y_all = np.concatenate([np.asarray(y_train, dtype=float), np.asarray(y_val, dtype=float)])
        ok = ~np.isnan(y_all)
        self.rows = int(ok.sum())
        # A trial's parameters (``fit``'s, less verbose and num_threads) with verbose -1 and the threads.
        self.params = [dict({k: v for k, v in p.items() if k not in ("verbose", "num_threads")}, verbose=-1,
                            num_threads=model.num_threads) for p in planned]
        self.binned = Binnings(x_all[ok], y_all[ok], self.params)

    def start(self, slots: list[int], outcome: dict[int, Any]) -> None:
        """Queue the refits of configurations ``slots`` (finished, not skipped) not queued yet."""
        if not self.active:
            return
        for i in slots:
            if i in self.started or outcome.get(i) is None:
                continue
            self.started.add(i)
            group = dataset_group(self.params[i])
            if group in self.built:
                self._submit(i, outcome[i])
                continue
            if group not in self.waiting:  # the group's Dataset: built first, by a job of its own
                self.pool.submit(("build", group), functools.partial(self.binned.dataset, self.params[i]),
                                 order=(0, -1, 0, 0))
            self.waiting.setdefault(group, []).append((i, outcome[i]))

    def _submit(self, i: int, result: Any) -> None:
        trial, booster = result[3], result[1]
        rounds = max(1, int(trial["best_iteration"] or 1))
        cost = self.seconds.get(i, 0.0) * rounds / max(1, booster.current_iteration())
        self.pool.submit(("refit", i), functools.partial(self._fit_one, self.params[i], rounds), order=(1, 0, -cost, i))

    def _fit_one(self, params: dict[str, Any], rounds: int) -> Any:
        import lightgbm as lgb

        return lgb.train(params, self.binned.dataset(params)[0], num_boost_round=rounds)

    def done(self, key: Any, result: Any) -> bool:
        """Take a finished build or refit job's result (any other job's is not the refits'); True for a refit."""
        if key[0] == "build":
            self.built.add(key[1])
            for i, outcome in self.waiting.pop(key[1], []):
                self._submit(i, outcome)
            return False
        if key[0] != "refit":  # a cancelled speculative configuration ending late
            return False
        self.boosters[key[1]] = result
        return True

    def finish(self, kept: list[int], outcome: dict[int, Any]) -> dict[str, Any] | None:
        """Refit the kept configurations not refitted yet (stage ``refit``); the refit's record, or None."""
        if not self.active:
            return self.record
        self.start(kept, outcome)
        with stage("refit", rows=self.rows, total=len(kept), unit="config") as refitting:
            for i in kept:
                if i in self.boosters:
                    refitting.advance()
            while any(i not in self.boosters for i in kept):
                key, result = self.pool.next_done()
                if self.done(key, result) and key[1] in kept:
                    refitting.advance()
        self.model.refit_boosters_ = [self.boosters[i] for i in kept]
        return {"from": self.known_from.isoformat(), "rows": self.rows,
                "rounds": [int(b.current_iteration()) for b in self.model.refit_boosters_]}
