"""Metrics by task type (names lower case, as in ``metrics.json``), the binary decision threshold,
and the sign that makes every primary metric higher-is-better. Torch-free: every model uses it."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np

TASK_TYPES = ("binary", "regression", "multiclass", "ranking")

#: The metric each task type is judged by, and whether higher is better.
PRIMARY_METRIC = {
    "binary": ("auroc", True),
    "regression": ("mae", False),
    "multiclass": ("macro_f1", True),
    "ranking": ("map@k", True),
}


def sklearn_metrics() -> ModuleType:
    """``sklearn.metrics``, imported on first use: with SciPy it costs about a second of start-up
    that commands which score nothing (``relgraph query``, ``schema``) need not pay."""
    from sklearn import metrics

    return metrics


def binary_metrics(y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    skm = sklearn_metrics()
    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=float)
    out = {"accuracy": float(skm.accuracy_score(y_true, prob >= threshold)), "threshold": float(threshold)}
    if len(np.unique(y_true)) == 2:
        out["auroc"] = float(skm.roc_auc_score(y_true, prob))
        out["average_precision"] = float(skm.average_precision_score(y_true, prob))
    else:
        out["auroc"] = float("nan")
        out["average_precision"] = float("nan")
    return out


def regression_metrics(y_true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    skm = sklearn_metrics()
    y_true = np.asarray(y_true, dtype=float)
    pred = np.asarray(pred, dtype=float)
    return {
        "mae": float(skm.mean_absolute_error(y_true, pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, pred))),
        "r2": float(skm.r2_score(y_true, pred)) if len(y_true) > 1 else float("nan"),
    }


def multiclass_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence) -> dict[str, float]:
    """``proba`` is [n, n_classes] in the order of ``classes``."""
    skm = sklearn_metrics()
    pred = np.asarray(classes)[np.asarray(proba).argmax(axis=1)]
    return {
        "accuracy": float(skm.accuracy_score(y_true, pred)),
        "macro_f1": float(skm.f1_score(y_true, pred, average="macro")),
    }


def ranking_metrics(actual: Sequence[Sequence], predicted: Sequence[Sequence], k: int) -> dict[str, float]:
    """MAP@k, recall@k and NDCG@k over entities with at least one actual item."""
    aps, recalls, ndcgs = [], [], []
    for act, pred in zip(actual, predicted):
        act_set = set(act)
        if not act_set:
            continue
        pred = list(pred)[:k]
        hits = np.array([p in act_set for p in pred], dtype=float)
        precision_at = np.cumsum(hits) / (np.arange(len(pred)) + 1) if len(pred) else np.array([])
        aps.append(float((precision_at * hits).sum() / min(len(act_set), k)))
        recalls.append(float(hits.sum() / len(act_set)))
        discounts = 1.0 / np.log2(np.arange(len(pred)) + 2)
        ideal = discounts[: min(len(act_set), k)].sum()
        ndcgs.append(float((hits * discounts).sum() / ideal) if ideal > 0 else 0.0)
    if not aps:
        return {"map@k": float("nan"), "recall@k": float("nan"), "ndcg@k": float("nan"), "k": k}
    return {"map@k": float(np.mean(aps)), "recall@k": float(np.mean(recalls)), "ndcg@k": float(np.mean(ndcgs)), "k": k}


def choose_threshold(y_true: np.ndarray, prob: np.ndarray) -> float:
    """The probability cut that maximises accuracy on (validation) rows; 0.5 without both classes."""
    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=float)
    if len(np.unique(y_true)) < 2:
        return 0.5
    order = np.argsort(-prob, kind="stable")
    sorted_prob, sorted_y = prob[order], y_true[order]
    # Predicting the top i rows positive: correct = positives among them + negatives after them.
    true_pos = np.concatenate([[0], np.cumsum(sorted_y)])
    false_neg_rest = (len(sorted_y) - np.arange(len(sorted_y) + 1)) - (sorted_y.sum() - true_pos)
    correct = true_pos + false_neg_rest
    # Only cut between distinct probabilities.
    valid = np.concatenate([[True], sorted_prob[:-1] > sorted_prob[1:], [True]])
    best = int(np.argmax(np.where(valid, correct, -1)))
    if best == 0:
        return float(np.nextafter(sorted_prob[0], np.inf))
    if best == len(sorted_prob):
        return float(sorted_prob[-1])
    return float((sorted_prob[best - 1] + sorted_prob[best]) / 2)


def task_metrics(
    task_type: str,
    y_true: Sequence,
    pred: np.ndarray,
    classes: Sequence | None = None,
    threshold: float = 0.5,
    k: int | None = None,
) -> dict[str, float]:
    """Metrics for one split. ``pred``: binary P(1) [n]; regression [n]; multiclass [n, C]
    probabilities in the order of ``classes``; ranking [n, k] predicted ids."""
    if task_type == "binary":
        return binary_metrics(np.asarray(y_true), pred, threshold)
    if task_type == "regression":
        return regression_metrics(np.asarray(y_true, dtype=float), pred)
    if task_type == "multiclass":
        assert classes is not None
        return multiclass_metrics(np.asarray(y_true), pred, classes)
    if task_type == "ranking":
        return ranking_metrics(list(y_true), [list(p) for p in pred], int(k or np.shape(pred)[1]))
    raise ValueError(f"unknown task type {task_type!r}")


def signed(value: float, higher_better: bool) -> float:
    """``value`` turned higher-is-better (lower-is-better metrics negated); NaN loses to everything."""
    if np.isnan(value):
        return -np.inf
    return value if higher_better else -value


def primary_score(task_type: str, metrics: dict[str, float]) -> float:
    """The task type's primary metric from ``metrics``, higher-is-better (:func:`signed`); -inf if absent."""
    name, higher_better = PRIMARY_METRIC[task_type]
    return signed(metrics.get(name, float("nan")), higher_better)
