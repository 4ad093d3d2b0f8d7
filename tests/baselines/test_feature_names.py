"""Feature names stay distinct when category values differ only in characters a name cannot hold."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import relgraph
from relgraph.baselines import TemporalFeatureBuilder


def test_values_alike_but_for_punctuation_get_their_own_features(tmp_path: Path) -> None:
    users = pd.DataFrame({"user_id": [1, 2, 3]})
    # "ß", "é" and "?" all read "_" in a feature name; each is still its own count.
    status = ["ß", "é", "?", "ok", "ß", "é", "?", "ok", "ß", "ok", "ok", "é"]
    events = pd.DataFrame({"event_id": range(1, 13), "user_id": [1, 2, 3] * 4, "status": status,
                           "created_at": pd.date_range("2024-01-01", periods=12, freq="5D").strftime("%Y-%m-%d")})
    users.to_csv(tmp_path / "users.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    db = relgraph.connect(str(tmp_path))
    frame = pd.DataFrame({"user_id": [1, 2, 3], "timestamp": pd.Timestamp("2024-03-01")})
    features = TemporalFeatureBuilder(depth=1, max_features=None).fit_transform(db, "users", frame, "user_id")
    assert features.columns.is_unique
    counts = {c: features.loc[0, c] for c in features.columns if c.startswith("events.status.") and c.endswith(".count")}
    # User 1's events: "ß", "ok", "?", "ok"; the three values named "_" are counted apart.
    assert counts.pop("events.status.ok.count") == 2
    assert len(counts) == 3 and sorted(counts.values()) == [0, 1, 1]
