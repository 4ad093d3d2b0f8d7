"""The GNN predictors (imports torch): node-level tasks (binary, regression, multiclass) and
ranking (link prediction), their input tensors and their shared training loop.

Their settings (``relgraph.gnn.config``) import without torch; the predictors are imported on first
use (``relgraph.gnn.GNNPredictor``), so a run reads its settings long before torch is loaded."""

from __future__ import annotations

from typing import Any

from relgraph.gnn.config import GNNConfig, RankingGNNConfig

__all__ = ["GNNConfig", "GNNPredictor", "RankingGNNConfig", "RankingGNNPredictor"]


def __getattr__(name: str) -> Any:
    if name == "GNNPredictor":
        from relgraph.gnn.predictor import GNNPredictor

        return GNNPredictor
    if name == "RankingGNNPredictor":
        from relgraph.gnn.ranking import RankingGNNPredictor

        return RankingGNNPredictor
    raise AttributeError(f"module 'relgraph.gnn' has no attribute {name!r}")
