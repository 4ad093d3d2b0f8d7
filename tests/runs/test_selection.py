"""``runs.selection``: auto keeps the reference unless a candidate beats it beyond resampling noise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, mean_absolute_error, roc_auc_score

from relgraph.runs.selection import (
    bootstrap_scores,
    choose_on_validation,
    resample_count_blocks,
    resample_counts,
    weighted_auroc,
)


def _binary(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(0.5 * y + rng.normal(0, 0.5, n), 0, 1)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 60), st.integers(0, 10_000))
def test_weighted_auroc_equals_sklearn_on_each_resample(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = rng.integers(0, 5, n).astype(float)  # many ties
    counts = resample_counts(n, 5, seed)
    got = weighted_auroc(y, score, counts)
    for b, c in enumerate(counts):
        rows = np.repeat(np.arange(n), c)
        if len(np.unique(y[rows])) < 2:
            assert np.isnan(got[b])
        else:
            assert got[b] == pytest.approx(roc_auc_score(y[rows], score[rows]), abs=1e-12)


def test_counts_row_zero_is_the_rows_themselves() -> None:
    counts = resample_counts(7, 20, 3)
    assert counts.shape == (21, 7) and (counts[0] == 1).all() and (counts.sum(axis=1) == 7).all()


def test_regression_and_multiclass_scores_are_signed_primary_metrics() -> None:
    rng = np.random.default_rng(1)
    y, pred = rng.normal(size=40), rng.normal(size=40)
    counts = resample_counts(40, 3)
    assert bootstrap_scores("regression", y, pred, counts)[0] == pytest.approx(-mean_absolute_error(y, pred))
    labels = rng.choice(["a", "b", "c"], 40)
    proba = rng.dirichlet(np.ones(3), 40)
    got = bootstrap_scores("multiclass", labels, proba, counts, classes=["a", "b", "c"])
    expected = f1_score(labels, np.array(["a", "b", "c"])[proba.argmax(axis=1)], average="macro")
    assert got[0] == pytest.approx(expected)


def test_noise_keeps_the_reference() -> None:
    """A candidate a hair better on 150 validation rows is not evidence: the reference stays."""
    y, ref = _binary(150)
    rng = np.random.default_rng(5)
    jittered = ref + rng.normal(0, 0.05, len(ref))
    selection = choose_on_validation("binary", y, {"lightgbm": ref, "blend": jittered}, reference="lightgbm")
    assert selection.chosen == "lightgbm"
    assert 0.0 < selection.evidence["blend"] < 0.95


def test_a_clearly_better_candidate_is_kept_and_the_best_of_those_wins() -> None:
    y, ref = _binary(400)
    better = np.where(y == 1, 0.7, 0.3) + np.random.default_rng(2).normal(0, 0.15, len(y))
    best = y + np.random.default_rng(3).normal(0, 0.1, len(y))
    selection = choose_on_validation("binary", y, {"gnn": better, "lightgbm": ref, "blend": best}, reference="lightgbm")
    assert selection.evidence["gnn"] >= 0.95 and selection.evidence["blend"] >= 0.95
    assert selection.chosen == "blend"
    assert selection.gain["blend"] == pytest.approx(roc_auc_score(y, best) - roc_auc_score(y, ref))
    assert "blend" in selection.text("auroc") and "resamples" in selection.text("auroc")


def test_lower_is_better_metrics_are_compared_the_right_way() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=300)
    close, far = y + rng.normal(0, 0.1, 300), y + rng.normal(0, 1.0, 300)
    better = choose_on_validation("regression", y, {"lightgbm": far, "gnn": close}, "lightgbm")
    assert better.chosen == "gnn"
    assert better.gain["gnn"] == pytest.approx(mean_absolute_error(y, close) - mean_absolute_error(y, far))
    assert "gnn mae -0." in better.text("mae") and "(better)" in better.text("mae")
    worse = choose_on_validation("regression", y, {"lightgbm": close, "gnn": far}, "lightgbm")
    assert worse.chosen == "lightgbm" and "(not better)" in worse.text("mae")


def test_missing_labels_are_left_out_and_unknown_reference_is_refused() -> None:
    y, ref = _binary(200)
    y_missing = y.astype(float)
    y_missing[:10] = np.nan
    preds = {"lightgbm": ref, "gnn": ref[::-1].copy()}
    with_missing = choose_on_validation("binary", y_missing, preds, "lightgbm")
    assert set(with_missing.evidence) == {"gnn"}
    # The same selection as on the labelled rows alone (resamples of their count) ...
    labelled = choose_on_validation("binary", y[10:], {k: v[10:] for k, v in preds.items()}, "lightgbm")
    assert with_missing.as_dict() == labelled.as_dict()
    # ... and not the one that keeps them as positives (NaN is truthy): the test has teeth.
    kept = choose_on_validation("binary", np.where(np.isnan(y_missing), 1, y_missing), preds, "lightgbm")
    assert kept.gain != labelled.gain
    with pytest.raises(ValueError, match="reference 'xgb'"):
        choose_on_validation("binary", y, {"lightgbm": ref}, reference="xgb")


def test_ties_thresholds_and_degenerate_validation() -> None:
    """Cases a mutation run (mutmut over this module) found unchecked: a tie is no win, a share
    exactly at the level is enough, resamples without both classes are no evidence, no labels keep
    the reference, and the resamples are seeded and draw every row."""
    y, ref = _binary(200)
    same = choose_on_validation("binary", y, {"lightgbm": ref, "gnn": ref.copy()}, "lightgbm")
    assert same.evidence["gnn"] == 0.0 and same.chosen == "lightgbm"
    better = ref + 0.1 * (y - 0.5) + np.random.default_rng(6).normal(0, 0.2, len(y))  # ahead in 83 %
    preds = {"lightgbm": ref, "gnn": better}
    first = choose_on_validation("binary", y, preds, "lightgbm", level=0.5)
    assert first.as_dict() == choose_on_validation("binary", y, preds, "lightgbm", level=0.5).as_dict()
    share = first.evidence["gnn"]
    assert 0.5 < share < 1.0 and first.gain["gnn"] > 0
    assert choose_on_validation("binary", y, preds, "lightgbm", level=share).chosen == "gnn"
    one_class = choose_on_validation("binary", np.ones(50, dtype=int), {"lightgbm": ref[:50], "gnn": better[:50]}, "lightgbm")
    assert one_class.evidence["gnn"] == 0.0 and one_class.chosen == "lightgbm"
    unlabelled = choose_on_validation("binary", np.full(20, np.nan), {"lightgbm": ref[:20], "gnn": better[:20]}, "lightgbm")
    assert unlabelled.chosen == unlabelled.reference == "lightgbm" and unlabelled.evidence == {}
    counts = resample_counts(5, 200, 1)
    assert (counts[1:].sum(axis=0) > 0).all()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), resamples=st.integers(1, 30), max_cells=st.integers(1, 400), seed=st.integers(0, 5))
def test_resample_blocks_are_the_draws_of_one_generator_at_once(n: int, resamples: int, max_cells: int, seed: int) -> None:
    rows = np.random.default_rng(seed).integers(0, n, (resamples, n))
    expected = np.vstack([np.ones(n, dtype=int)] + [np.bincount(r, minlength=n) for r in rows])
    blocks = list(resample_count_blocks(n, resamples, seed, max_cells=max_cells))
    assert all(len(b) <= max(1, max_cells // n) for b in blocks[1:])
    np.testing.assert_array_equal(np.vstack(blocks), expected)
    np.testing.assert_array_equal(resample_counts(n, resamples, seed), expected)
