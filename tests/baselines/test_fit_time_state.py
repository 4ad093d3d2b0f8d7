"""Fit-time state comes from rows up to the last training time: every fitted component of the
tabular models (LightGBM's feature builder, its current parents, the recent-form rule) fitted on
``db`` equals the one fitted on ``db.cut(last training time)`` (the rule, which chooses on
validation: the cut at the last validation time)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from shop_fixtures import make_shop
from test_models import _small_lightgbm, _task

from relgraph.baselines import RecentFormRule, TemporalFeatureBuilder
from relgraph.baselines.extra_columns import unwrapped
from relgraph.baselines.rules import candidate_builder
from relgraph.database import Database
from relgraph.query.task import TaskTables

LATE = "refund"


@pytest.fixture(scope="module")
def late_task() -> tuple[Database, TaskTables]:
    """The models' binary task, its orders after the last training time in a status of their own."""
    db, task = _task("binary")
    orders = db.table("orders").to_pandas()
    horizon = task.train["timestamp"].max()
    assert (orders["ts"] > horizon).any()
    orders.loc[orders["ts"] > horizon, "status"] = LATE
    tables = [db.table(t).to_pandas() for t in ("customers", "stores")] + [orders]
    tables += [db.table(t).to_pandas() for t in ("items", "reviews")]
    return make_shop(*tables), task


def _cut(db: Database, t: pd.Timestamp) -> Database:
    return db.cut(np.datetime64(pd.Timestamp(t)))


def test_the_late_value_is_there_to_be_leaked(late_task: tuple[Database, TaskTables]) -> None:
    """The fixture has teeth: a builder fitted on rows up to the last test time sees the late status."""
    db, task = late_task
    builder = TemporalFeatureBuilder(windows=[30], max_features=None).fit(db, "customers", task.test)
    assert LATE in json.dumps(builder.to_dict()["state"]["categories"])


def test_lightgbm_builder_and_current_parents_fitted_on_the_cut_database(late_task: tuple[Database, TaskTables]) -> None:
    db, task = late_task
    cut = _cut(db, task.train["timestamp"].max())
    states = []
    for database in (db, cut):
        model = _small_lightgbm()
        model.current_parents = "on"
        model.fit(database, task)
        assert model.meta_["current_parents"]["used"]
        states.append((unwrapped(model.builder).to_dict()["state"], model.builder.extra.to_dict()))
    assert states[0] == states[1]
    assert LATE not in json.dumps(states[0])


def test_rule_fitted_on_the_database_cut_at_the_last_validation_time(late_task: tuple[Database, TaskTables]) -> None:
    db, task = late_task
    cut = _cut(db, task.val["timestamp"].max())
    own = [RecentFormRule().fit(database, task) for database in (db, cut)]
    assert own[0].state_ == own[1].state_
    assert own[0].builder.to_dict() == own[1].builder.to_dict()
    # With the LightGBM member's fitted builder (as the runner gives it).
    fitted = TemporalFeatureBuilder(windows=[30], max_features=None).fit(db, "customers", task.train)
    given = [RecentFormRule(builder=candidate_builder(fitted)).fit(database, task) for database in (db, cut)]
    assert given[0].state_ == given[1].state_
    assert LATE not in json.dumps(own[0].builder.to_dict()) + json.dumps(given[0].builder.to_dict())
