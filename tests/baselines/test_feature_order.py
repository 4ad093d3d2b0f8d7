"""Features over an event table without a primary key do not depend on the order of its rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import relgraph
from relgraph.baselines.aggregates import TemporalFeatureBuilder, clear_feature_cache


def _folder(path: Path, visits: pd.DataFrame) -> str:
    path.mkdir()
    pd.DataFrame({"customer_id": [1, 2, 3]}).to_csv(path / "customers.csv", index=False)
    visits.to_csv(path / "visits.csv", index=False)
    return str(path)


def _features(source: str, frame: pd.DataFrame) -> pd.DataFrame:
    clear_feature_cache()
    db = relgraph.connect(source)
    assert db.schema["visits"].primary_key is None  # the case: ties have no key to order them
    builder = TemporalFeatureBuilder(depth=1, max_features=None)
    return builder.fit_transform(db, "customers", frame, "customer_id")


def test_last_values_do_not_depend_on_the_order_of_rows_that_share_a_time(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    times = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 20, 300), unit="D")
    visits = pd.DataFrame({"customer_id": rng.integers(1, 4, 300), "ts": times,
                           "amount": rng.integers(1, 50, 300).astype(float)})
    frame = pd.DataFrame({"customer_id": [1, 2, 3, 1, 2, 3],
                          "timestamp": pd.to_datetime(["2024-01-10"] * 3 + ["2024-01-25"] * 3)})
    frame["label"] = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    first = _features(_folder(tmp_path / "a", visits), frame)
    again = _features(_folder(tmp_path / "b", visits.iloc[::-1]), frame)
    assert any(c.endswith(".last") for c in first.columns)
    pd.testing.assert_frame_equal(first, again)
