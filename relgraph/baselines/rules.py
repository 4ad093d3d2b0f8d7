"""Rule baselines every quality benchmark reports: what a model has to beat.

* :class:`TrivialBaseline` — labels only, no features (earlier labels, or the training labels):
  binary, the entity's positive rate (everyone's rate for entities never seen); regression, the
  median label; multiclass, the class frequencies.
* :class:`RecentFormRule` — one "recent form" feature used as the prediction, e.g. the share
  of an entity's last 10 results that were not finishes, or the mean of its last 5 qualifying
  positions. Candidates are the temporal builder's "last n events" means and shares (and
  optionally its window means) with missing history filled by the median, lowest or highest
  value seen; the combination with the best validation metric is kept. Binary scores
  are mapped to probabilities by a one-feature logistic fit on the training rows; regression
  uses the value itself or a one-feature least-squares fit, whichever validates better.

Both follow the :class:`relgraph.predictor.Predictor` protocol and save as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.baselines.sample import MAX_TRAIN_ROWS, training_sample
from relgraph.database import Database
from relgraph.errors import ModelError, QueryError
from relgraph.json_values import json_strict, plain
from relgraph.metrics import multiclass_metrics
from relgraph.query.task import TaskTables

_TRIVIAL_FILE = "trivial.json"
_RULE_FILE = "rule.json"
#: Candidate features of the recent-form rule: last-n means and shares.
LAST_N_PATTERN = r"\.(mean|share)\.last\d+$"
#: The same plus time-window means and shares.
WINDOW_PATTERN = r"\.(mean|share)\.(last\d+|\d+d)$"


class TrivialBaseline:
    """What is known without features: labels, no features.

    ``labels="earlier"`` (default; the benchmarks' baseline): for a row ``(entity, t)`` it uses the
    labelled rows given at fit time (training and validation) whose timestamp is strictly before
    ``t``: binary — the entity's positive rate (all entities' rate when the entity has none);
    regression — the median label; multiclass — the class frequencies. Rows with no earlier
    labels at all get the training figures. Labels of rows at ``t' < t`` describe windows
    starting at ``t'``; with RelBench-style timestamps one window apart those windows end by ``t``.

    ``labels="training"`` (the baseline of every ``relgraph train`` report): the training rows
    only, whatever the row's time: binary — the entity's training positive rate (the global rate
    for entities without training rows); regression — the training median; multiclass — the
    training class frequencies.
    """

    name = "trivial"

    def __init__(self, labels: str = "earlier") -> None:
        if labels not in ("earlier", "training"):
            raise ModelError(f"TrivialBaseline labels={labels!r} is unknown; use 'earlier' or 'training'")
        self.labels = labels
        self.state_: dict[str, Any] = {}

    #: Earlier labels, no features.
    feature_importance_: pd.Series | None = None

    @property
    def classes_(self) -> list[Any] | None:
        """Multiclass: the class of each probability column; else None."""
        return self.state_.get("classes")

    @property
    def history_(self) -> list[dict[str, float]]:
        """Fitted in one go: no per-epoch records."""
        return []

    def fit(self, db: Database, task: TaskTables) -> TrivialBaseline:
        if task.task_type not in ("binary", "regression", "multiclass"):
            raise QueryError(f"TrivialBaseline handles binary, regression and multiclass tasks, not {task.task_type!r}")
        if self.labels == "training":
            return self._fit_training(task)
        key = task.entity_key
        train = task.train.dropna(subset=["label"])
        if train.empty:
            raise QueryError("training table has no labelled rows; widen the training period")
        history = pd.concat([train, task.val.dropna(subset=["label"])])[[key, "timestamp", "label"]]
        self.state_ = {
            "task_type": task.task_type,
            "entity_key": key,
            "keys": [plain(k) for k in history[key]],
            "times": pd.to_datetime(history["timestamp"]).astype("int64").tolist(),
            "labels": [plain(v) for v in history["label"]],
        }
        if task.task_type == "multiclass":
            self.state_["classes"] = sorted(plain(c) for c in pd.unique(train["label"]))
        self.state_["fallback"] = self._aggregate(train["label"].to_numpy())
        return self

    def _aggregate(self, labels: np.ndarray) -> Any:
        """Prediction from a set of labels: rate, median or class frequencies."""
        task_type = self.state_["task_type"]
        if task_type == "binary":
            return float(np.mean(labels.astype(float)))
        if task_type == "regression":
            return float(np.median(labels.astype(float)))
        counts = pd.Series(labels).value_counts(normalize=True)
        return [float(counts.get(c, 0.0)) for c in self.state_["classes"]]

    def _fit_training(self, task: TaskTables) -> TrivialBaseline:
        labels = task.train["label"]
        self.state_ = {"mode": "training", "task_type": task.task_type, "entity_key": task.entity_key}
        if task.task_type == "binary":
            y = labels.astype(float)
            rates = y.groupby(task.train[task.entity_key]).mean()
            self.state_.update(value=float(y.mean()), entity_keys=[plain(k) for k in rates.index], entity_rates=rates.tolist())
        elif task.task_type == "regression":
            self.state_["value"] = float(labels.astype(float).median())
        else:
            freq = labels.value_counts(normalize=True).sort_index()
            self.state_.update(classes=[plain(c) for c in freq.index], class_freq=freq.tolist())
        return self

    def _predict_training(self, frame: pd.DataFrame) -> np.ndarray:
        s = self.state_
        if s["task_type"] == "binary":
            rates = pd.Series(s["entity_rates"], index=s["entity_keys"], dtype=float)
            return frame[s["entity_key"]].map(rates).fillna(s["value"]).to_numpy(dtype=float)
        if s["task_type"] == "regression":
            return np.full(len(frame), s["value"])
        return np.tile(np.asarray(s["class_freq"], dtype=float), (len(frame), 1))

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        s = self.state_
        if not s:
            raise ModelError("TrivialBaseline.predict before fit or load: fit it first")
        if s.get("mode") == "training":
            return self._predict_training(frame)
        key = s["entity_key"]
        hist = pd.DataFrame({key: s["keys"], "t": np.asarray(s["times"], dtype=np.int64), "label": s["labels"]}).sort_values("t", kind="stable")
        t = pd.to_datetime(frame["timestamp"]).astype("int64").to_numpy()
        hist_t = hist["t"].to_numpy()
        labels = hist["label"].to_numpy()
        # Global figure per distinct prediction time (labels strictly earlier), then per entity for binary.
        glob = {}
        for value in np.unique(t):
            n = int(np.searchsorted(hist_t, value, side="left"))
            glob[value] = self._aggregate(labels[:n]) if n else s["fallback"]
        if s["task_type"] == "regression":
            return np.array([glob[v] for v in t], dtype=float)
        if s["task_type"] == "multiclass":
            return np.array([glob[v] for v in t], dtype=float)
        grouped = hist.assign(label=hist["label"].astype(float)).groupby([key, "t"], sort=False)["label"].agg(["sum", "count"]).reset_index().sort_values("t")
        grouped[["csum", "ccount"]] = grouped.groupby(key)[["sum", "count"]].cumsum().to_numpy()
        query = pd.DataFrame({key: frame[key].to_numpy(), "t": t, "row": np.arange(len(frame))}).sort_values("t")
        matched = pd.merge_asof(query, grouped[[key, "t", "csum", "ccount"]], on="t", by=key, allow_exact_matches=False)
        rate = (matched["csum"] / matched["ccount"]).to_numpy()
        prior = np.array([glob[v] for v in matched["t"].to_numpy()], dtype=float)
        out = np.empty(len(frame))
        out[matched["row"].to_numpy()] = np.where(np.isnan(rate), prior, rate)
        return out

    def save(self, directory: Path | str) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _TRIVIAL_FILE).write_text(json.dumps(self.state_, default=json_strict))

    @classmethod
    def load(cls, directory: Path | str) -> TrivialBaseline:
        state = json.loads(_read(Path(directory) / _TRIVIAL_FILE))
        model = cls(labels=state.get("mode", "earlier"))
        model.state_ = state
        return model


class RecentFormRule:
    """The single recent-form feature that best predicts the label on validation.

    Args:
        candidates: regular expression on feature names (default: last-n means and shares).
        builder: feature builder (default: one computing only the candidates, unpruned); one
            fitted already (its windows, categories, centring from the same training rows) is
            used as it is, saving the fit's queries.
        max_train_rows: fit on a seeded sample of this many training rows when there are more
            (``baselines.sample``; ``None``: all rows).
    """

    name = "rule"

    def __init__(self, candidates: str = LAST_N_PATTERN, builder: TemporalFeatureBuilder | None = None,
                 max_train_rows: int | None = MAX_TRAIN_ROWS) -> None:
        self.candidates = candidates
        self.max_train_rows = max_train_rows
        self.builder = builder or TemporalFeatureBuilder(max_features=None, include=candidates)
        self.state_: dict[str, Any] = {}

    #: One feature, chosen on validation: nothing to rank.
    feature_importance_: pd.Series | None = None

    @property
    def classes_(self) -> list[Any] | None:
        """Multiclass: the class of each probability column (the mapping's classes); else None."""
        return self.state_.get("mapping", {}).get("classes")

    @property
    def history_(self) -> list[dict[str, float]]:
        """Fitted in one go: no per-epoch records."""
        return []

    def fit(self, db: Database, task: TaskTables) -> RecentFormRule:
        if task.task_type not in ("binary", "regression", "multiclass"):
            raise QueryError(f"RecentFormRule handles binary, regression and multiclass tasks, not {task.task_type!r}")
        key = task.entity_key
        task = dataclasses.replace(task, train=training_sample(task.train, self.max_train_rows))
        if self.builder.entity_table_ is None:
            x_train = self.builder.fit_transform(db, task.entity_table, task.train, key)
        else:  # a builder fitted already (e.g. a LightGBM member's state, on the same training rows)
            x_train = self.builder.transform(db, task.train, key)
        x_val = self.builder.transform(db, task.val, key)
        pattern = re.compile(self.candidates)
        names = [c for c in x_train.columns if pattern.search(c) and not isinstance(x_train[c].dtype, pd.CategoricalDtype)]
        if not names:
            raise QueryError(f"no feature matches {self.candidates!r}; the entity {task.entity_table!r} has no event history to form a rule from")
        y_train = task.train["label"].to_numpy()
        y_val = task.val["label"].to_numpy()
        best: tuple[float, dict[str, Any]] | None = None
        for name in names:
            seen = x_train[name].dropna()
            # An entity without history counts as typical, or as the lowest / highest value seen.
            fills = sorted({float(seen.median()), float(seen.min()), float(seen.max())}) if len(seen) else [0.0]
            for fill in fills:
                xt = x_train[name].fillna(fill).to_numpy(dtype=float)
                xv = x_val[name].fillna(fill).to_numpy(dtype=float)
                for mapping in _mappings(task.task_type, xt, y_train):
                    score = _rule_score(task.task_type, y_val, _apply(mapping, xv), mapping)
                    if best is None or score > best[0]:
                        best = (score, {"feature": name, "fill": fill, "mapping": mapping})
        assert best is not None
        self.state_ = dict(best[1], task_type=task.task_type, entity_key=key, val_score=best[0])
        # Only the chosen feature is needed from now on.
        self.builder.features_ = [best[1]["feature"]]
        return self

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        s = self.state_
        if not s:
            raise ModelError("RecentFormRule.predict before fit or load: fit it first")
        x = self.builder.transform(db, frame, s["entity_key"])[s["feature"]].fillna(s["fill"]).to_numpy(dtype=float)
        return _apply(s["mapping"], x)

    def describe(self) -> str:
        """The fitted rule in one line, e.g. ``P(positive) falls as the share of the last 10
        results with statusId = 1 rises (logistic fit; no history: 0.85)``."""
        s = self.state_
        if not s:
            raise ModelError("RecentFormRule.describe before fit or load: fit it first")
        return rule_text(s["feature"], s["mapping"], s["fill"])

    def save(self, directory: Path | str) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.builder.save(directory)
        (directory / _RULE_FILE).write_text(json.dumps(dict(self.state_, candidates=self.candidates), default=json_strict))

    @classmethod
    def load(cls, directory: Path | str) -> RecentFormRule:
        state = json.loads(_read(Path(directory) / _RULE_FILE))
        model = cls(state.pop("candidates"), TemporalFeatureBuilder.load(directory))
        model.state_ = state
        return model


_FEATURE_TEXT = re.compile(r"^(?P<column>.+)\.(?P<stat>mean|share)\.(?:last(?P<n>\d+)|(?P<days>\d+)d)$")


def feature_text(feature: str) -> str:
    """A recent-form feature name in words: ``results.positionOrder.mean.last5`` -> ``mean
    results.positionOrder over the last 5 events``; ``results.statusId.eq1.share.90d`` ->
    ``share of results with statusId = 1 over the last 90 days``."""
    m = _FEATURE_TEXT.match(feature)
    if m is None:
        return feature
    span = f"the last {m['n']} events" if m["n"] else f"the last {m['days']} days"
    if m["stat"] == "mean":
        return f"mean {m['column']} over {span}"
    stream, _, rest = m["column"].rpartition(".")
    if stream and re.fullmatch(r"eq.+", rest):  # dominant-value indicator: <stream>.<col>.eq<v>
        stream, _, column = stream.rpartition(".")
        return f"share of {stream} with {column} = {rest[2:]} over {span}"
    stream, _, column = stream.rpartition(".")
    return f"share of {stream} with {column} = {rest} over {span}" if stream else f"share {m['column']} over {span}"


def rule_text(feature: str, mapping: dict[str, Any], fill: float) -> str:
    """One line saying what a fitted recent-form rule predicts."""
    x = feature_text(feature)
    missing = f"no history: {fill:.3g}"
    kind = mapping["kind"]
    if kind == "logistic":
        direction = "rises" if mapping["b"] >= 0 else "falls"
        return f"P(positive) {direction} with the {x} (logistic fit; {missing})"
    if kind == "identity":
        return f"predict the {x} ({missing})"
    if kind == "linear":
        return f"predict {mapping['a']:.3g} {'+' if mapping['b'] >= 0 else '-'} {abs(mapping['b']):.3g} x the {x} ({missing})"
    edges, classes = mapping["edges"], mapping["bin_class"]
    bins = [f"< {edges[0]:.3g}: {classes[0]}" if edges else f"any: {classes[0]}"]
    bins += [f">= {edges[i]:.3g}: {classes[i + 1]}" for i in range(len(edges))]
    return f"class by the {x} ({'; '.join(bins)}; {missing})"


def candidate_builder(fitted: TemporalFeatureBuilder, candidates: str = LAST_N_PATTERN) -> TemporalFeatureBuilder:
    """A builder computing only the rule's candidates with the fitted state of ``fitted`` (fitted
    on the same task's training rows, e.g. a LightGBM member's): no fit queries again, and the
    running tables ``fitted`` computed are cached per database."""
    d = fitted.to_dict()
    d["params"] = dict(d["params"], include=candidates, max_features=None)
    d["state"] = dict(d["state"], features=None, importance={})
    return TemporalFeatureBuilder.from_dict(d)


def _mappings(task_type: str, x: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    """Ways to turn one feature into a prediction, fitted on the training rows."""
    if task_type == "binary":
        # Logistic fit of P(1) on the standardised feature: handles both signs.
        mu, sd = float(x.mean()), float(x.std()) or 1.0
        coef = _logistic_1d((x - mu) / sd, y.astype(float))
        return [{"kind": "logistic", "mu": mu, "sd": sd, "a": coef[0], "b": coef[1]}]
    if task_type == "regression":
        y = y.astype(float)
        slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(np.median(y)))
        return [{"kind": "identity"}, {"kind": "linear", "a": float(intercept), "b": float(slope)}]
    # Multiclass: one-feature class rule is ill-defined; thresholds of the feature split the classes.
    classes = sorted(pd.unique(y).tolist())
    edges = np.quantile(x, np.linspace(0, 1, len(classes) + 1)[1:-1]).tolist()
    order = [plain(c) for c in pd.Series(y).groupby(np.digitize(x, edges)).agg(lambda s: s.mode().iloc[0]).reindex(range(len(classes))).ffill().bfill()]
    return [{"kind": "bins", "edges": edges, "bin_class": order, "classes": [plain(c) for c in classes]}]


def _apply(mapping: dict[str, Any], x: np.ndarray) -> np.ndarray:
    kind = mapping["kind"]
    if kind == "logistic":
        z = mapping["a"] + mapping["b"] * (x - mapping["mu"]) / mapping["sd"]
        return 1.0 / (1.0 + np.exp(-z))
    if kind == "identity":
        return x
    if kind == "linear":
        return mapping["a"] + mapping["b"] * x
    classes = mapping["classes"]
    chosen = np.asarray(mapping["bin_class"], dtype=object)[np.digitize(x, mapping["edges"])]
    return (chosen[:, None] == np.asarray(classes, dtype=object)[None, :]).astype(float)


def _rule_score(task_type: str, y: np.ndarray, pred: np.ndarray, mapping: dict[str, Any]) -> float:
    if task_type == "binary":
        return _auroc(y, pred)
    if task_type == "regression":
        return -float(np.mean(np.abs(y.astype(float) - pred)))  # MAE, as regression_metrics
    return multiclass_metrics(y, pred, mapping["classes"])["macro_f1"]


def _auroc(y: np.ndarray, score: np.ndarray) -> float:
    """AUROC by the rank-sum (Mann-Whitney) formula, ties at half: what ``binary_metrics`` gives,
    without scikit-learn's per-call input checks (the rule search scores hundreds of candidates);
    0.5 when one class is missing."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return 0.5
    ranks = rankdata(np.asarray(score, dtype=float))
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _logistic_1d(x: np.ndarray, y: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """Intercept and slope of a logistic regression of ``y`` on ``x`` (Newton steps, small ridge)."""
    a, b = 0.0, 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(a + b * x)))
        w = p * (1 - p) + 1e-9
        g = np.array([np.sum(p - y), np.sum((p - y) * x) + 1e-3 * b])
        h = np.array([[np.sum(w), np.sum(w * x)], [np.sum(w * x), np.sum(w * x * x) + 1e-3]])
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-9:
            break
    return float(a), float(b)


def _read(path: Path) -> str:
    if not path.exists():
        raise ModelError(f"{path} is missing; point at a directory written by the model's save()")
    return path.read_text()
