"""LightGBMPredictor's configurations and refits trained side by side on threads (``n_jobs``): the
very boosters of one at a time."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_models import _task

from relgraph.baselines import LightGBMPredictor, TemporalFeatureBuilder
from relgraph.baselines.lightgbm_search import Binnings, in_parallel, worker_count
from relgraph.stages import Stage, StageRecorder

#: Configurations small enough to grow trees on the random shop's 48 training rows, in two groups of bins
#: (their own learning rate: with it the binary task uses the current parents' columns, the multiclass not).
SMALL_LEAVES = [{"min_data_in_leaf": 5}, {"min_data_in_leaf": 5, "num_leaves": 3, "feature_fraction": 0.3},
                {"min_data_in_leaf": 8, "extra_trees": True}, {"min_data_in_leaf": 5, "lambda_l2": 10.0},
                {"min_data_in_leaf": 8, "is_unbalance": True}, {"min_data_in_leaf": 8, "learning_rate": 0.1},
                {"min_data_in_leaf": 5, "bagging_fraction": 0.5}]
SMALL_LEAVES = [{"learning_rate": 0.03, **params} for params in SMALL_LEAVES]


def _fit(db: Any, task: Any, n_jobs: int, current_parents: str, **kwargs: Any) -> LightGBMPredictor:
    builder = TemporalFeatureBuilder(windows=[30], last_n=(1, 3), max_features=20)
    return LightGBMPredictor(seed=0, max_configs=6, ensemble=3, builder=builder, early_stopping_rounds=5,
                             label_horizon="30D", current_parents=current_parents, n_jobs=n_jobs,
                             search_space=SMALL_LEAVES, **kwargs).fit(db, task)


def _same_model(one: LightGBMPredictor, other: LightGBMPredictor, db: Any, frame: Any) -> None:
    timing = ("feature_seconds", "fit_seconds")
    assert {k: v for k, v in one.meta_.items() if k not in timing} == {k: v for k, v in other.meta_.items() if k not in timing}
    for mine, theirs in ((one.boosters_, other.boosters_), (one.refit_boosters_, other.refit_boosters_)):
        assert [b.model_to_string() for b in mine] == [b.model_to_string() for b in theirs]
    np.testing.assert_array_equal(one.predict(db, frame), other.predict(db, frame))


@pytest.mark.parametrize(("task_type", "current_parents"), [("binary", "auto"), ("binary", "on"), ("regression", "off"),
                                                            ("multiclass", "auto")])
def test_configurations_on_threads_give_the_very_boosters_of_one_at_a_time(task_type: str, current_parents: str) -> None:
    db, task = _task(task_type)
    one = _fit(db, task, 1, current_parents)
    assert len(one.meta_["trials"]) == 6 and len(one.refit_boosters_) == 3
    assert (one.meta_["current_parents"] is None) == (current_parents == "off")
    assert max(t["best_iteration"] for t in one.meta_["trials"]) > 5  # trees that split: a comparison that can fail
    for workers in (2, 4):
        _same_model(one, _fit(db, task, workers, current_parents), db, task.test)


def test_the_default_search_on_threads_gives_the_very_boosters_of_one_at_a_time(tmp_path) -> None:
    """The seven default configurations on the demo shop's churn (1,139 training rows), one at a
    time and two at a time: trials, kept boosters, refits and predictions identical."""
    import relgraph
    from relgraph.demo.generate import make_demo_database
    from relgraph.query import build_task

    path = make_demo_database(tmp_path / "demo.db", seed=0, scale=0.05)
    db = relgraph.connect(f"sqlite:///{path}")
    task = build_task(db, "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
                          "WHERE COUNT(orders.*, -90, 0, days) > 0")
    one = LightGBMPredictor(ensemble=3, n_jobs=1).fit(db, task)
    assert len(one.meta_["trials"]) == 7 and min(t["best_iteration"] for t in one.meta_["trials"]) > 10
    _same_model(one, LightGBMPredictor(ensemble=3, n_jobs=2).fit(db, task), db, task.test)


@pytest.mark.parametrize("current_parents", ["auto", "on", "off"])
def test_the_stage_bars_count_every_configuration_and_refit(current_parents: str, monkeypatch) -> None:
    """Each configuration and refit moves its stage's bar once, up to the bar's total."""
    steps: dict[str, list[int]] = {}
    advance = Stage.advance

    def counted(self: Stage, steps_done: int = 1, **postfix: Any) -> None:
        steps.setdefault(self.name, []).append(self.bar.total)
        advance(self, steps_done, **postfix)

    monkeypatch.setattr(Stage, "advance", counted)
    db, task = _task("binary")
    with StageRecorder(progress=True):
        model = _fit(db, task, 3, current_parents)
    trained = len(model.meta_["trials"]) + int(model.meta_["current_parents"] is not None)
    assert steps["lightgbm configurations"] == [trained] * trained
    assert steps["refit"] == [3] * 3


def test_a_spent_time_budget_keeps_the_first_configuration_only() -> None:
    db, task = _task("binary")
    model = _fit(db, task, 3, "off", time_budget_s=0.0)
    assert len(model.meta_["trials"]) == 1 and len(model.boosters_) == 1


def test_in_parallel_keeps_the_job_order_and_counts_each_job() -> None:
    done: list[int] = []
    gate = threading.Barrier(2)

    def job(i: int) -> int:
        if i < 2:
            gate.wait(timeout=10)  # the first two run at once: two workers
        return i * i

    results = in_parallel([lambda i=i: job(i) for i in range(5)], 2, lambda: done.append(1))
    assert results == [0, 1, 4, 9, 16] and len(done) == 5
    started: list[int] = []
    late = in_parallel([lambda i=i: started.append(i) or i for i in range(5)], 2, lambda: None, first=[3, 4])
    assert late == [0, 1, 2, 3, 4] and started[0] in (3, 4)  # ``first`` started first (two workers), results in job order
    with pytest.raises(ZeroDivisionError):
        in_parallel([lambda: 1, lambda: 1 // 0], 2, lambda: None)


def test_worker_count_is_capped_by_the_jobs_the_threads_per_booster_and_free_memory() -> None:
    assert worker_count(4, 1, 3) == 3 and worker_count(1, 1, 7) == 1 and worker_count(0, 1, 7) == 1
    assert 1 <= worker_count(None, 1, 7) <= 7 and worker_count(None, 10_000, 7) == 1
    assert worker_count(None, 1, 7, job_bytes=1 << 60) == 1  # boosters that free memory cannot hold: one at a time
    assert worker_count(4, 1, 7, job_bytes=1 << 60) == 4  # n_jobs as given


def test_a_group_dataset_is_built_once_with_its_first_planned_parameters() -> None:
    """Threads asking for one group at once share one Dataset, built with the parameters of the
    group's first configuration in the plan (those a sequential search builds it with)."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(400, 5)), columns=[f"f{i}" for i in range(5)])
    y = (x["f0"] > 0).astype(float).to_numpy()
    base = {"objective": "binary", "max_bin": 15, "min_data_in_leaf": 20, "num_threads": 1, "verbose": -1}
    planned = [dict(base, num_leaves=3), dict(base, num_leaves=5), dict(base, min_data_in_leaf=40)]
    binned = Binnings(x, y, planned)
    got = in_parallel([lambda p=p: binned.dataset(p)[0] for p in reversed(planned * 3)], 4, lambda: None)
    assert len(binned.bins_) == 2 and len({id(d) for d in got}) == 2
    assert binned.dataset(planned[1])[0].params["num_leaves"] == 3
    fresh = Binnings(x, y, planned)
    assert fresh.builders(planned) == [0, 2] and fresh.builders(planned[1:]) == [0, 1]
    fresh.dataset(planned[0])
    assert fresh.builders(planned[1:]) == [1]  # the first group is built: only the second's first job


def test_refits_started_during_the_search_are_the_refits_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A configuration sure to be kept is refitted while the search's last configurations train:
    the same boosters, refits and predictions as refits started after the search."""
    from relgraph.baselines import lightgbm_model

    early: list[list[int]] = []
    sure_kept = lightgbm_model._sure_kept

    def spied(outcome: dict[int, Any], candidates: int, keep: int) -> list[int]:
        found = sure_kept(outcome, candidates, keep)
        if len(outcome) < candidates:
            early.append(found)
        return found

    db, task = _task("binary")
    monkeypatch.setattr(lightgbm_model, "_sure_kept", spied)
    eager = _fit(db, task, 2, "auto")
    assert any(early)  # some refit did start before the search ended
    monkeypatch.setattr(lightgbm_model, "_sure_kept", lambda *args: [])
    for workers in (1, 2):
        _same_model(eager, _fit(db, task, workers, "auto"), db, task.test)


def test_sure_kept_is_kept_whatever_the_unfinished_configurations_score() -> None:
    """Brute force over scores with ties: a configuration ``_sure_kept`` names is among the kept
    (``fit``'s stable sort) for every score the unfinished ones may get, and skipped ones (None) count as none."""
    import itertools

    from relgraph.baselines.lightgbm_refits import _sure_kept

    rng = np.random.default_rng(0)
    values = [0.1, 0.2, 0.3, None]
    for _ in range(300):
        n, keep = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        finished = sorted(rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False).tolist())
        outcome = {i: (None if (v := values[int(rng.integers(0, 4))]) is None else (v,)) for i in finished}
        sure = _sure_kept(outcome, n, keep)
        assert set(sure) <= {i for i, r in outcome.items() if r is not None}
        rest = [i for i in range(n) if i not in outcome]
        for filled in itertools.product(values, repeat=len(rest)):
            full = {**outcome, **{i: (None if v is None else (v,)) for i, v in zip(rest, filled)}}
            slots = [i for i in range(n) if full[i] is not None]
            kept = {slots[j] for j in sorted(range(len(slots)), key=lambda j: -full[slots[j]][0])[:keep]}
            assert set(sure) <= kept, (outcome, n, keep, filled)
    assert _sure_kept({0: (0.5,), 1: (0.4,), 2: (0.3,)}, 4, 2) == [0]  # one unfinished: 0 stays in the best two
    assert _sure_kept({0: (float("nan"),), 1: (0.4,)}, 2, 1) == []


def test_the_job_pool_starts_by_order_and_takes_jobs_added_while_others_run() -> None:
    from relgraph.baselines.lightgbm_search import JobPool

    for workers in (1, 2):
        started: list[str] = []
        with JobPool(workers) as pool:
            for name, order in (("c", 3), ("a", 1), ("b", 2)):
                pool.submit(name, lambda name=name, log=started: log.append(name) or name.upper(), order=order)
            got = {}
            while len(pool):
                key, result = pool.next_done()
                got[key] = result
                if key == "a":
                    pool.submit("z", lambda log=started: log.append("z") or "Z", order=0)
        assert got == {"a": "A", "b": "B", "c": "C", "z": "Z"}
        # one worker: by order, "z" (added once "a" finished) before "b"; two: "a" and "b" first
        assert started == ["a", "z", "b", "c"] if workers == 1 else set(started[:2]) == {"a", "b"}
    with pytest.raises(ZeroDivisionError), JobPool(2) as pool:
        pool.submit("x", lambda: 1 // 0)
        pool.next_done()


@pytest.mark.parametrize("task_type", ["binary", "multiclass"])  # the parents' columns used / not used
def test_a_configuration_trained_before_the_current_parents_decision_changes_nothing(task_type: str, monkeypatch) -> None:
    """``current_parents="auto"`` on two workers trains one configuration on the parents' columns
    while the decision is pending: kept when they are used, cancelled (or dropped) when not; the
    model is the one-at-a-time model either way."""
    from relgraph.baselines import lightgbm_model

    speculated: list[Any] = []
    run = lightgbm_model._unless_cancelled

    def spied(job: Any, cancel: threading.Event) -> Any:
        speculated.append(run(job, cancel))
        return speculated[-1]

    monkeypatch.setattr(lightgbm_model, "_unless_cancelled", spied)
    db, task = _task(task_type)
    two = _fit(db, task, 2, "auto")
    assert len(speculated) == 1
    assert two.meta_["current_parents"]["used"] == (task_type == "binary")
    if two.meta_["current_parents"]["used"]:
        assert speculated[0] is not None
    _same_model(_fit(db, task, 1, "auto"), two, db, task.test)


def test_a_cancelled_configuration_stops_at_its_next_round() -> None:
    import lightgbm as lgb

    from relgraph.baselines.lightgbm_refits import _cancel_callback, _Cancelled

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] > 0).astype(float)
    params = {"objective": "binary", "num_threads": 1, "verbose": -1, "seed": 0, "deterministic": True}
    cancel = threading.Event()
    plain = lgb.train(params, lgb.Dataset(x, y), num_boost_round=20)
    watched = lgb.train(params, lgb.Dataset(x, y), num_boost_round=20, callbacks=[_cancel_callback(cancel)])
    assert plain.model_to_string() == watched.model_to_string()  # not set: the same booster
    rounds: list[int] = []

    def count(env: Any) -> None:
        rounds.append(env.iteration)
        if env.iteration == 4:
            cancel.set()

    with pytest.raises(_Cancelled):
        lgb.train(params, lgb.Dataset(x, y), num_boost_round=20, callbacks=[_cancel_callback(cancel), count])
    assert rounds == [0, 1, 2, 3, 4]
