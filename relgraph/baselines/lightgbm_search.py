"""How LightGBMPredictor's configurations are trained: shared Datasets, histogram layout, and
several configurations at once on threads.

Configurations (and refits) train side by side, ``workers`` at a time, each on its own thread with
its own ``num_threads`` LightGBM threads: LightGBM releases the GIL while it trains, and every
configuration is deterministic, so each booster is bit-for-bit the one it is trained alone.

One rule keeps threads safe: LightGBM's thread count is one process-wide value
(``LGBM_DEFAULT_NUM_THREADS``), set by every call that takes parameters (a Dataset built, a
booster made, a prediction), and an unset ``num_threads`` resets it to OpenMP's default (every
core). A booster training while another thread changes it sizes its buffers for one count and
runs its loops with another: wrong trees at best, a SIGSEGV at worst (what sank an earlier
attempt: its Datasets and validation predictions were made without ``num_threads``; reproduced
with three threads training while a fourth predicted without it: SIGSEGV within 40 s, and none,
with 42 boosters identical to one trained alone, when it passed ``num_threads=1``). So every
LightGBM call made while workers run passes the same ``num_threads``.

``LightGBMPredictor.fit`` runs its configurations and refits in one :class:`JobPool`, so that no
worker waits on a stage boundary: the first configuration trains while the current parents'
columns are computed, the longest start first, and refits start during the search's tail (see
ARCHITECTURE.md). ``relgraph ask`` uses :func:`in_parallel`.
"""

from __future__ import annotations

import heapq
import os
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")

#: LightGBM parameters that shape a Dataset: its bins and its feature pre-filter (which drops
#: features that cannot split with ``min_data_in_leaf`` rows).
DATASET_PARAMS = ("max_bin", "min_data_in_leaf", "min_data_in_bin", "feature_pre_filter", "seed", "data_random_seed",
                  "bin_construct_sample_cnt", "use_missing", "zero_as_missing", "linear_tree", "max_bin_by_feature",
                  "categorical_feature")


def histogram_layout(params: dict[str, Any]) -> dict[str, bool]:
    """LightGBM's histogram layout for ``params``: by column when a tree samples at most half the
    features (the row layout still reads every feature of each row: on rel-f1 driver-dnf's 1,087
    features the by-column layout boosts ``feature_fraction`` 0.3 twice as fast), else by row.
    Either layout gives the same trees from the same Dataset (a test compares the model strings)."""
    if float(params.get("feature_fraction", 1.0)) <= 0.5:
        return {"force_col_wise": True}
    return {"force_row_wise": True}


def dataset_group(params: dict[str, Any]) -> tuple[str, ...]:
    """The group of configurations whose Dataset ``params`` share: their :data:`DATASET_PARAMS`."""
    return tuple(repr(params.get(name)) for name in DATASET_PARAMS)


class Binnings:
    """One LightGBM Dataset of a feature matrix per group of configurations that agree on
    :data:`DATASET_PARAMS`, built once and trained on by every configuration of the group (the
    7 configurations fall into 2 groups). Building a Dataset (finding the bins of every column,
    then binning every value) costs as much as a configuration's boosting rounds on wide
    matrices (rel-f1's driver-dnf features: 13,891 x 1,418); a Dataset is read-only while a
    booster trains, so the trees are those a Dataset of its own gives (a test compares the
    model strings).

    Safe under threads: a group's Dataset is built once (the first thread to need it builds it,
    the others of its group wait), then shared. ``planned``: the parameters of the
    configurations in the order one at a time would train them; a group's Dataset is built
    with the first of its group's parameters, whichever thread gets there first, so the
    Datasets are those of a sequential search."""

    def __init__(self, x: pd.DataFrame, y: np.ndarray, planned: list[dict[str, Any]] | None = None) -> None:
        self.x = x
        self.y = y
        self.bins_: dict[tuple[str, ...], Any] = {}
        self._builds: dict[tuple[str, ...], dict[str, Any]] = {}
        for params in planned or []:
            self._builds.setdefault(dataset_group(params), dict(params))
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def dataset(self, params: dict[str, Any], valid: tuple[pd.DataFrame, np.ndarray] | None = None) -> tuple[Any, Any]:
        """The constructed Dataset of ``x``, ``y`` for ``params`` (built on the first call of its
        group), and a new one of ``valid`` (x, y) on its bins (None without ``valid``)."""
        import lightgbm as lgb

        key = dataset_group(params)
        with self._lock:
            group_lock = self._locks.setdefault(key, threading.Lock())
        with group_lock:  # two groups build side by side; one group once
            train = self.bins_.get(key)
            if train is None:
                given = self._builds.get(key, params)
                train = lgb.Dataset(self.x, self.y, params=dict(given), free_raw_data=False).construct()
                self.bins_[key] = train
        check = (None if valid is None else
                 lgb.Dataset(valid[0], valid[1], reference=train, params=dict(params), free_raw_data=False).construct())
        return train, check

    def builders(self, planned: list[dict[str, Any]]) -> list[int]:
        """The positions in ``planned`` of each group's first parameters, for groups not built yet:
        the jobs to start first, so that the groups' Datasets are built side by side rather than
        a second job of a group waiting for its Dataset while another group's could be built."""
        seen: set[tuple[str, ...]] = set(self.bins_)
        out = []
        for i, params in enumerate(planned):
            if dataset_group(params) not in seen:
                seen.add(dataset_group(params))
                out.append(i)
        return out


def worker_count(n_jobs: int | None, num_threads: int, jobs: int, job_bytes: int = 0) -> int:
    """Configurations trained at once: ``n_jobs``, or (None) the cores this process may use over
    each booster's ``num_threads``, as many as half the free memory holds at ``job_bytes`` each
    (a training booster's own copy of the binned rows: rows x columns bytes); at most ``jobs``,
    at least 1."""
    if n_jobs is None:
        n_jobs = usable_cores() // max(1, num_threads)
        if job_bytes > 0:
            n_jobs = min(n_jobs, _free_bytes() // (2 * job_bytes))
    return max(1, min(n_jobs, jobs))


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _free_bytes() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # not on Linux: no cap
        return 1 << 62


def in_parallel(jobs: list[Callable[[], T]], workers: int, done: Callable[[], None],
                first: list[int] | None = None) -> list[T]:
    """Each job's result, in job order, ``workers`` jobs at a time on threads (``done`` called in
    this thread as each finishes: a stage's progress bar), the jobs numbered in ``first`` started
    before the others; one worker or one job: in this thread, one after another, in job order."""
    if workers <= 1 or len(jobs) <= 1:
        results = []
        for job in jobs:
            results.append(job())
            done()
        return results
    order = list(first or []) + [i for i in range(len(jobs)) if i not in (first or [])]
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="lightgbm") as pool:
        submitted = {i: pool.submit(jobs[i]) for i in order}
        futures = [submitted[i] for i in range(len(jobs))]
        try:
            for future in as_completed(futures):
                future.result()  # a job's error, at once
                done()
        except BaseException:
            for future in futures:  # an error or an interrupt: start no more configurations
                future.cancel()
            raise
        return [f.result() for f in futures]


class JobPool:
    """Jobs on ``workers`` threads, more submitted while others run (the search submits a
    configuration's refit as soon as the configuration is sure to be kept), each started in order
    of its ``order`` key (smallest first; ties: submitted first). :meth:`start` starts what the free
    workers can take (so a job can train while the calling thread does other work);
    :meth:`next_done` does too, and returns the first job to finish. One worker: each job runs in the
    calling thread when :meth:`next_done` takes it. Which job runs when changes no booster (each is
    deterministic and alone on its LightGBM threads, see the module docstring); only the wall time.

    Use as a context manager: leaving it (an error, an interrupt) starts no more jobs and waits for
    the running ones."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pending: list[tuple[Any, int, Hashable, Callable[[], Any]]] = []
        self._running: dict[Future[Any], Hashable] = {}
        self._count = 0
        self._pool = (ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lightgbm")
                      if self.workers > 1 else None)

    def submit(self, key: Hashable, job: Callable[[], Any], order: Any = ()) -> None:
        """Queue ``job`` (its result comes back with ``key``), started before jobs of a larger ``order``."""
        heapq.heappush(self._pending, (order, self._count, key, job))
        self._count += 1

    def __len__(self) -> int:
        """Jobs queued or running."""
        return len(self._pending) + len(self._running)

    def start(self) -> None:
        """Start the queued jobs the free workers can take now (one worker: none, see :meth:`next_done`)."""
        while self._pool is not None and self._pending and len(self._running) < self.workers:
            _, _, key, job = heapq.heappop(self._pending)
            self._running[self._pool.submit(job)] = key

    def next_done(self) -> tuple[Hashable, Any]:
        """``(key, result)`` of the next job to finish (its error, raised here); a job must be queued or running."""
        if self._pool is None:
            _, _, key, job = heapq.heappop(self._pending)
            return key, job()
        self.start()
        done, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        future = next(iter(done))
        key = self._running.pop(future)
        return key, future.result()

    def __enter__(self) -> JobPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
