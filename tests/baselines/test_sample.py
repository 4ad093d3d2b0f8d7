"""Training-row caps of the tabular models (``baselines.sample``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_models import _small_lightgbm, _task

from relgraph.baselines import RecentFormRule
from relgraph.baselines.sample import training_sample
from relgraph.errors import QueryError


def test_sample_keeps_small_tables_and_draws_a_seeded_ordered_subset() -> None:
    train = pd.DataFrame({"k": np.arange(100), "label": np.arange(100) % 2}, index=np.arange(100) * 3)
    assert training_sample(train, None) is train
    assert training_sample(train, 100) is train
    a, b = training_sample(train, 30, seed=1), training_sample(train, 30, seed=1)
    assert len(a) == 30 and a.index.is_monotonic_increasing and set(a.index) <= set(train.index)
    pd.testing.assert_frame_equal(a, b)
    assert not training_sample(train, 30, seed=2).index.equals(a.index)
    with pytest.raises(QueryError, match="max_train_rows"):
        training_sample(train, 0)


def test_lightgbm_and_rule_fit_on_the_capped_sample() -> None:
    db, task = _task("binary")
    cap = len(task.train) // 2
    model = _small_lightgbm()
    model.max_train_rows = cap
    model.fit(db, task)
    assert model.meta_["train_rows"] == cap
    assert len(model.predict(db, task.test)) == len(task.test)
    full = _small_lightgbm().fit(db, task)
    assert full.meta_["train_rows"] == len(task.train)
    rule = RecentFormRule(max_train_rows=cap).fit(db, task)
    assert np.isfinite(rule.predict(db, task.val)).all()
