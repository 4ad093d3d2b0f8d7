"""Choosing the model ``--model auto`` keeps, on validation, without trusting noise.

Validation tables are often small (rel-f1: about 550 rows; a Stack Exchange site's engagement
task: 180), and the candidates' validation scores then differ by less than their noise: the
largest validation score picks a model by chance about as often as by merit, and the blend's own
score is a little optimistic (its weight was chosen on the same rows). So ``auto`` keeps a
*reference* model, relgraph's LightGBM, the strongest simple model, unless another candidate
beats it on validation in at least ``level`` of paired bootstrap resamples of the validation
rows; among those that do, the best validation score wins.

Torch-free: works on predictions only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from relgraph.metrics import PRIMARY_METRIC, primary_score, task_metrics

#: Share of validation resamples in which a candidate must beat the reference to be kept instead.
EVIDENCE_LEVEL = 0.95
RESAMPLES = 1000
SEED = 0
#: Cells of resample counts scored at once: at 175,000 validation rows (the 10M demo) all 1,001
#: resamples at once took 65 s and most of the run's 13.9 GiB peak (#25 session 15).
BLOCK_CELLS = 20_000_000


def weighted_auroc(y: np.ndarray, score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """AUROC of each resample given as row multiplicities (rank statistic, ties count one half).

    Args:
        y: [n] 0/1 labels; score: [n] scores; counts: [B, n] times each row is drawn.
    Returns:
        [B] AUROC (NaN where a resample holds one class only).
    """
    order = np.argsort(score, kind="stable")
    s, pos = np.asarray(score)[order], np.asarray(y)[order].astype(bool)
    # Integer counts throughout: the sums are exact, as they were in float64, at a quarter of the memory traffic.
    pos_w = counts[:, order].astype(np.int32, copy=False)
    neg_w = pos_w * ~pos
    pos_w *= pos
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first position of each tie group
    if len(starts) < len(s):
        pos_w, neg_w = np.add.reduceat(pos_w, starts, axis=1), np.add.reduceat(neg_w, starts, axis=1)
    below = np.cumsum(neg_w, axis=1, dtype=np.int64) - neg_w  # negatives scored strictly lower than each group
    twice_wins = (pos_w * (2 * below + neg_w)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * twice_wins / (pos_w.sum(axis=1, dtype=np.int64) * neg_w.sum(axis=1, dtype=np.int64))


def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """[resamples + 1, n] row multiplicities: row 0 the rows themselves, then bootstrap draws."""
    return np.vstack(list(resample_count_blocks(n, resamples, seed)))


def resample_count_blocks(n: int, resamples: int = RESAMPLES, seed: int = SEED,
                          max_cells: int = BLOCK_CELLS) -> Iterator[np.ndarray]:
    """:func:`resample_counts` in consecutive blocks of rows of at most ``max_cells`` cells (one row at
    least), so that a large validation table's resamples need not be in memory at once."""
    rng = np.random.default_rng(seed)
    yield np.ones((1, n), dtype=np.int32)
    per_block = max(1, max_cells // max(n, 1))
    for start in range(0, resamples, per_block):
        size = min(per_block, resamples - start)
        rows = rng.integers(0, n, (size, n))  # the generator's stream is the same drawn in blocks or at once
        counts = np.bincount((rows + n * np.arange(size)[:, None]).ravel(), minlength=size * n)
        yield counts.reshape(size, n).astype(np.int32)


def bootstrap_scores(task_type: str, y: np.ndarray, pred: np.ndarray, counts: np.ndarray,
                     classes: Sequence[Any] | None = None) -> np.ndarray:
    """[B] primary metric of ``pred`` on each resample of ``counts``, higher-is-better
    (:func:`relgraph.metrics.primary_score`'s sign; NaN where undefined, e.g. one class only)."""
    if task_type == "binary":
        return weighted_auroc(np.asarray(y).astype(int), np.asarray(pred, dtype=float), counts)
    if task_type == "regression":
        err = np.abs(np.asarray(y, dtype=float) - np.asarray(pred, dtype=float))
        return -(counts @ err) / counts.sum(axis=1)
    if task_type == "multiclass":  # macro F1 has no weighted shortcut: score each resample
        y = np.asarray(y)
        out = np.empty(len(counts))
        for b, c in enumerate(counts):
            rows = np.repeat(np.arange(len(y)), c)
            out[b] = primary_score(task_type, task_metrics(task_type, y[rows], np.asarray(pred)[rows], classes))
        return out
    raise ValueError(f"no bootstrap for {task_type!r} tasks")


@dataclass
class Selection:
    """What :func:`choose_on_validation` kept and why.

    Attributes:
        chosen: the kept candidate's name.
        reference: the name kept unless another shows enough evidence.
        evidence: candidate -> share of resamples in which it beat the reference.
        gain: candidate -> its validation primary metric minus the reference's, in the metric's
            own direction (MAE: negative is better).
        higher_better: whether a larger primary metric is better.
        level: the share needed.
    """

    chosen: str
    reference: str
    evidence: dict[str, float] = field(default_factory=dict)
    gain: dict[str, float] = field(default_factory=dict)
    higher_better: bool = True
    level: float = EVIDENCE_LEVEL

    def text(self, metric: str) -> str:
        """One line for logs and the report."""
        if not self.evidence:
            return f"{self.chosen} (the only candidate)"
        rule = (f"{self.reference} unless another model beats it on validation in at least "
                f"{100 * self.level:.0f} % of bootstrap resamples")
        parts = []
        for name, share in self.evidence.items():
            better = (self.gain[name] > 0) == self.higher_better and self.gain[name] != 0
            parts.append(f"{name} {metric} {self.gain[name]:+.4f} ({'better' if better else 'not better'}), "
                         f"ahead in {100 * share:.0f} %")
        return f"{self.chosen} (rule: {rule}; against {self.reference} on validation: {'; '.join(parts)})"

    def as_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "reference": self.reference, "level": self.level,
                "evidence": self.evidence, "gain": self.gain, "higher_better": self.higher_better}


def choose_on_validation(task_type: str, y: np.ndarray, val_preds: Mapping[str, np.ndarray], reference: str,
                         classes: Sequence[Any] | None = None, level: float = EVIDENCE_LEVEL,
                         resamples: int = RESAMPLES, seed: int = SEED) -> Selection:
    """Keep ``reference`` unless a candidate beats it on validation in at least ``level`` of
    ``resamples`` paired bootstrap resamples; among such candidates, the best validation score.

    Args:
        task_type: binary | regression | multiclass.
        y: [n] validation labels (rows with a missing label are left out).
        val_preds: candidate -> its validation predictions ([n], or [n, C] for multiclass).
        reference: the candidate kept without evidence against it (must be in ``val_preds``).
    """
    if reference not in val_preds:
        raise ValueError(f"reference {reference!r} is not among the candidates {list(val_preds)}")
    y = np.asarray(y)
    known = ~pd.isna(y)
    others = [name for name in val_preds if name != reference]
    if not known.any() or not others:
        return Selection(reference, reference, higher_better=PRIMARY_METRIC[task_type][1], level=level)
    y = y[known]
    preds = {name: np.asarray(pred)[known] for name, pred in val_preds.items()}
    blocks: dict[str, list[np.ndarray]] = {name: [] for name in preds}
    for counts in resample_count_blocks(len(y), resamples, seed):
        for name, pred in preds.items():
            blocks[name].append(bootstrap_scores(task_type, y, pred, counts, classes))
    ref = np.concatenate(blocks[reference])
    higher_better = PRIMARY_METRIC[task_type][1]
    selection = Selection(reference, reference, higher_better=higher_better, level=level)
    best = ref[0]
    for name in others:
        scores = np.concatenate(blocks[name])
        diffs = scores[1:] - ref[1:]
        valid = ~np.isnan(diffs)
        share = float((diffs[valid] > 0).mean()) if valid.any() else 0.0
        selection.evidence[name] = share
        selection.gain[name] = float(scores[0] - ref[0]) * (1.0 if higher_better else -1.0)
        if share >= level and scores[0] > best:
            best, selection.chosen = scores[0], name
    return selection


__all__ = ["EVIDENCE_LEVEL", "Selection", "bootstrap_scores", "choose_on_validation", "resample_count_blocks", "resample_counts", "weighted_auroc"]
