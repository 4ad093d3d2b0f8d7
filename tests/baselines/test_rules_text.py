"""The one-line text of a fitted recent-form rule (shown in every run's metrics.json and report)."""

from __future__ import annotations

from relgraph.baselines.rules import feature_text, rule_text


def test_feature_names_in_words() -> None:
    assert feature_text("results.positionOrder.mean.last5") == "mean results.positionOrder over the last 5 events"
    assert feature_text("results.statusId.eq1.share.last10") == "share of results with statusId = 1 over the last 10 events"
    assert feature_text("orders.status.returned.share.90d") == "share of orders with status = returned over the last 90 days"
    assert feature_text("drivers.dob.age_days") == "drivers.dob.age_days"  # not a rule feature: left as it is


def test_rule_text_per_mapping() -> None:
    feature = "results.statusId.eq1.share.last10"
    assert rule_text(feature, {"kind": "logistic", "mu": 0, "sd": 1, "a": 0, "b": -1.0}, 0.8).startswith("P(positive) falls with")
    assert rule_text(feature, {"kind": "identity"}, 12.0) == "predict the share of results with statusId = 1 over the last 10 events (no history: 12)"
    assert "2 + 0.5 x the" in rule_text(feature, {"kind": "linear", "a": 2.0, "b": 0.5}, 1.0)
    text = rule_text(feature, {"kind": "bins", "edges": [0.5], "bin_class": ["a", "b"], "classes": ["a", "b"]}, 0.0)
    assert "< 0.5: a; >= 0.5: b" in text


def test_rule_search_auroc_matches_the_metrics_module() -> None:
    import numpy as np

    from relgraph.baselines.rules import _auroc
    from relgraph.metrics import binary_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.normal(size=500) + y, 1)  # ties included
    assert abs(_auroc(y, score) - binary_metrics(y, score)["auroc"]) < 1e-12
    assert _auroc(np.ones(5), np.arange(5)) == 0.5
