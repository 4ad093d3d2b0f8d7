"""The graph layer: a database as a temporal heterogeneous graph (no torch import here).

``build_graph(db)`` materialises (and caches) the graph; ``graph.feature_stats(cutoff)`` gives
leakage-safe normalisation statistics; ``graph.to_hetero_data()`` converts to PyG (imports torch).
"""

from __future__ import annotations

from relgraph.graph.build import build_graph, node_times_seconds
from relgraph.graph.columns import (
    FeatureStats,
    NodeFeatures,
    NormalizedFeatures,
    TableStats,
    fit_feature_stats,
    normalize,
)
from relgraph.graph.temporal_graph import NEVER, EdgeType, TemporalGraph, reverse_relation

__all__ = [
    "NEVER",
    "EdgeType",
    "FeatureStats",
    "NodeFeatures",
    "NormalizedFeatures",
    "TableStats",
    "TemporalGraph",
    "build_graph",
    "fit_feature_stats",
    "node_times_seconds",
    "normalize",
    "reverse_relation",
]
