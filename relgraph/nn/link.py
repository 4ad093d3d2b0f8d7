"""Link scoring for recommendation: how well does candidate target c fit entity e at time t?

``LinkScorer`` combines two signals:

- two towers: the entity's GNN embedding ``h`` [B, H] and each candidate's embedding ``z``
  [C, H] (its own GNN embedding at t plus an optional learned id embedding) meet in a scaled
  dot product;
- identity awareness: pair features of (entity, candidate) at t [B, C, F] (how often and how
  recently the entity picked the candidate, the candidate's popularity) go through an MLP whose
  output is weighted per entity by a gate computed from ``h``, so the model learns whose
  history repeats and whose does not.

Output: scores [B, C] (higher = more likely), trained with a sampled softmax.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LinkScorer(nn.Module):
    """Scores [B, C] from entity embeddings [B, H], candidate embeddings [C, H], pair features [B, C, F].

    Args:
        hidden: embedding size H.
        num_pair_features: F.
        num_ids: size of the learned target-id table (row 0 = ids unseen at training); 0 for none.
        dropout: dropout on the MLPs' hidden layer.
    """

    def __init__(self, hidden: int, num_pair_features: int, num_ids: int = 0, dropout: float = 0.1) -> None:
        super().__init__()
        self.hidden = hidden
        self.entity_proj = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.target_proj = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.id_embedding = nn.Embedding(num_ids, hidden) if num_ids > 0 else None
        if self.id_embedding is not None:
            nn.init.normal_(self.id_embedding.weight, std=0.01)
        self.pair_mlp = nn.Sequential(
            nn.Linear(num_pair_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden)
        )
        self.gate = nn.Linear(hidden, hidden)
        self.pair_bias = nn.Linear(hidden, 1)

    def target_embedding(self, z: Tensor, ids: Tensor | None = None) -> Tensor:
        """Candidate GNN embeddings [C, H] (+ id embeddings of ``ids`` [C], 0 = unseen) -> [C, H]."""
        out = self.target_proj(z)
        if self.id_embedding is not None and ids is not None:
            out = out + self.id_embedding(ids)
        return out

    def forward(self, h: Tensor, target: Tensor, pair: Tensor) -> Tensor:
        """``h`` [B, H] entity embeddings, ``target`` [C, H] from :meth:`target_embedding`,
        ``pair`` [B, C, F] -> scores [B, C]."""
        entity = self.entity_proj(h)
        towers = entity @ target.T / math.sqrt(self.hidden)
        p = self.pair_mlp(pair)  # [B, C, H]
        gate = torch.sigmoid(self.gate(h)).unsqueeze(1)  # [B, 1, H]
        return towers + self.pair_bias(F.relu(p * gate)).squeeze(-1)

    @staticmethod
    def loss(scores: Tensor, positive: Tensor) -> Tensor:
        """Sampled softmax with several positives: mean over positive pairs of -log softmax.

        Args:
            scores: [B, C]; positive: bool [B, C] (rows without a positive are ignored).
        """
        log_prob = torch.log_softmax(scores, dim=1)
        count = positive.sum()
        if count == 0:
            return scores.sum() * 0.0
        return -(log_prob * positive).sum() / count
