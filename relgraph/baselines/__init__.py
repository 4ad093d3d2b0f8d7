"""Tabular baselines: automated temporal features (DuckDB SQL), LightGBM, and rule baselines.

Imports without torch.
"""

from relgraph.baselines.aggregates import TemporalFeatureBuilder, clear_feature_cache
from relgraph.baselines.lightgbm_model import LightGBMPredictor
from relgraph.baselines.rules import RecentFormRule, TrivialBaseline

__all__ = ["LightGBMPredictor", "RecentFormRule", "TemporalFeatureBuilder", "TrivialBaseline", "clear_feature_cache"]
