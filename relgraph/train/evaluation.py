"""Metrics by task type for any model's predictions, and the binary decision threshold.

Torch-free, so LightGBM runs and reports use it too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from relgraph.metrics import binary_metrics, multiclass_metrics, ranking_metrics, regression_metrics


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
