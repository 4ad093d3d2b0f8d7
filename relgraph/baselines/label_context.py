"""The entity's own earlier labels as features: what in-context relational models see.

A label at time ``t'`` describes the window ``(t', t' + horizon]`` (the query's target window),
so it is known at a prediction time ``t`` only when ``t' + horizon <= t``. For each row
``(entity, t)``, :class:`LabelContext` summarises the entity's labelled rows known by ``t``:

* ``label_ctx.last``: the latest known label;
* ``label_ctx.mean.last3``: the mean of the last 3 known labels;
* ``label_ctx.mean``: the mean of every known label;
* ``label_ctx.count``: how many are known;
* ``label_ctx.days_since``: days from the latest known label's time ``t'`` to ``t``.

The labelled rows are the task's own tables: the training rows and the validation rows (a
validation label at ``t'`` is as known at a later ``t`` as a training one). A training row sees
only earlier training rows whose windows have ended; a validation row also earlier validation
rows; a test row or a later prediction every training and validation row whose window ended.
Binary and regression labels only (a multiclass label has no mean). Saved as JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from relgraph.baselines.extra_columns import SavedAsJson
from relgraph.errors import ModelError
from relgraph.json_values import plain
from relgraph.query.horizon import label_horizon as label_horizon  # its home before; callers import it here

PREFIX = "label_ctx"


class LabelContext(SavedAsJson):
    """Summaries of each entity's labels known before the prediction time (module docstring).

    Args:
        horizon: how long after its time a label is known (the target window's end).
    """

    FILE = "label_context.json"

    def __init__(self, horizon: pd.Timedelta) -> None:
        if pd.Timedelta(horizon) <= pd.Timedelta(0):
            raise ModelError(f"label context horizon {horizon}: a label is known only after its window, give a positive horizon")
        self.horizon = pd.Timedelta(horizon)
        self.state_: dict[str, Any] = {}

    @property
    def columns(self) -> list[str]:
        return [f"{PREFIX}.last", f"{PREFIX}.mean.last3", f"{PREFIX}.mean", f"{PREFIX}.count", f"{PREFIX}.days_since"]

    def fit(self, labelled: pd.DataFrame, entity_key: str) -> LabelContext:
        """Keep ``labelled``'s ``[entity_key, "timestamp", "label"]`` rows (training + validation)."""
        rows = labelled.dropna(subset=["label"])
        self.state_ = {
            "entity_key": entity_key,
            "keys": [plain(k) for k in rows[entity_key]],
            "times": pd.to_datetime(rows["timestamp"]).astype("datetime64[ns]").astype("int64").tolist(),
            "labels": rows["label"].astype(float).tolist(),
        }
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The context columns of ``frame``'s rows (its labels, if any, are never read)."""
        s = self.state_
        if not s:
            raise ModelError("LabelContext.transform before fit or load: fit it first")
        key = s["entity_key"]
        hist = pd.DataFrame({"k": s["keys"], "t": np.asarray(s["times"], dtype=np.int64), "y": np.asarray(s["labels"], dtype=float)})
        # Several rows of one entity at one time: one step (their mean).
        hist = hist.groupby(["k", "t"], sort=True, as_index=False)["y"].mean()
        by = hist.groupby("k", sort=False)["y"]
        hist["count"] = by.cumcount() + 1.0
        hist["mean"] = by.cumsum() / hist["count"]
        hist["mean3"] = by.transform(lambda y: y.rolling(3, min_periods=1).mean())
        hist["known"] = hist["t"] + int(self.horizon.value)
        t = pd.to_datetime(frame["timestamp"]).astype("datetime64[ns]").astype("int64").to_numpy()
        keys = pd.Series(frame[key].to_numpy()).map(plain)
        query = pd.DataFrame({"k": keys.to_numpy(), "when": t, "row": np.arange(len(frame))})
        # Keys compared as the stored plain values: one dtype on both sides.
        query["k"] = query["k"].astype(object)
        hist["k"] = hist["k"].astype(object)
        matched = pd.merge_asof(
            query.sort_values("when", kind="stable"), hist.sort_values("known", kind="stable"),
            left_on="when", right_on="known", by="k", allow_exact_matches=True, direction="backward",
        )
        out = np.full((len(frame), 5), np.nan)
        r = matched["row"].to_numpy()
        out[r, 0] = matched["y"].to_numpy(dtype=float)
        out[r, 1] = matched["mean3"].to_numpy(dtype=float)
        out[r, 2] = matched["mean"].to_numpy(dtype=float)
        out[r, 3] = matched["count"].fillna(0.0).to_numpy(dtype=float)
        out[r, 4] = (matched["when"] - matched["t"]).to_numpy(dtype=float) / 86400e9
        return pd.DataFrame(out, columns=self.columns, index=frame.index)

    def columns_for(self, db: Any, frame: pd.DataFrame, entity_key: str | None = None) -> pd.DataFrame:
        """:meth:`transform` (the extra-columns protocol of :class:`~relgraph.baselines.extra_columns.WithColumns`)."""
        return self.transform(frame)

    def to_dict(self) -> dict[str, Any]:
        return {"horizon_seconds": self.horizon.total_seconds(), "state": self.state_}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelContext:
        model = cls(pd.Timedelta(seconds=d["horizon_seconds"]))
        model.state_ = d["state"]
        return model

