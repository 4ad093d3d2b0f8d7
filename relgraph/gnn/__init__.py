"""The GNN predictors (imports torch): node-level tasks (binary, regression, multiclass) and
ranking (link prediction), their input tensors and their shared training loop."""

from relgraph.gnn.predictor import GNNConfig, GNNPredictor
from relgraph.gnn.ranking import RankingGNNConfig, RankingGNNPredictor

__all__ = ["GNNConfig", "GNNPredictor", "RankingGNNConfig", "RankingGNNPredictor"]
