"""Prediction heads by task type: an MLP on the seed embedding, its loss and its output.

- binary: one logit; loss BCE with ``pos_weight`` (class imbalance); output P(label=1) [B].
- regression: one value on the standardised label scale; loss L1 (the metric is MAE);
  output de-standardised and clamped to the training label range [B].
- multiclass: C logits; loss cross-entropy with per-class weights; output probabilities [B, C].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TASK_TYPES = ("binary", "regression", "multiclass")


class TaskHead(nn.Module):
    """MLP ``hidden -> hidden -> out`` with task-specific loss and prediction.

    Args:
        task_type: ``binary`` | ``regression`` | ``multiclass``.
        hidden: embedding size of the seed nodes.
        num_classes: multiclass only.
        pos_weight: binary only, weight of positive examples in the loss.
        class_weight: multiclass only, [C] loss weights.
        label_mean, label_std, label_min, label_max: regression only, training label statistics.
    """

    def __init__(
        self,
        task_type: str,
        hidden: int,
        num_classes: int = 2,
        pos_weight: float = 1.0,
        class_weight: list[float] | None = None,
        label_mean: float = 0.0,
        label_std: float = 1.0,
        label_min: float = float("-inf"),
        label_max: float = float("inf"),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if task_type not in TASK_TYPES:
            raise ValueError(f"task type {task_type!r} is not one of {TASK_TYPES}")
        self.task_type = task_type
        out_dim = num_classes if task_type == "multiclass" else 1
        self.mlp = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
        )
        self.register_buffer("pos_weight", torch.tensor(float(pos_weight)))
        weights = class_weight if class_weight is not None else [1.0] * out_dim
        self.register_buffer("class_weight", torch.tensor(weights, dtype=torch.float32))
        # float64 so the clamp bounds are the training labels exactly.
        self.register_buffer(
            "label_stats", torch.tensor([label_mean, label_std, label_min, label_max], dtype=torch.float64)
        )

    def forward(self, h: Tensor) -> Tensor:
        """[B, hidden] -> raw output: [B] (binary, regression) or [B, C] (multiclass)."""
        out = self.mlp(h)
        return out if self.task_type == "multiclass" else out.squeeze(-1)

    def loss(self, raw: Tensor, label: Tensor) -> Tensor:
        if self.task_type == "binary":
            return F.binary_cross_entropy_with_logits(raw, label.float(), pos_weight=self.pos_weight)
        if self.task_type == "regression":
            mean, std = self.label_stats[0], self.label_stats[1]
            return F.l1_loss(raw, ((label.double() - mean) / std).float())
        return F.cross_entropy(raw, label.long(), weight=self.class_weight)

    def predict(self, raw: Tensor) -> Tensor:
        """Raw output -> P(1) [B] | value clamped to the training range [B] | probabilities [B, C]."""
        if self.task_type == "binary":
            return torch.sigmoid(raw)
        if self.task_type == "regression":
            mean, std, lo, hi = self.label_stats
            return (raw.double() * std + mean).clamp(min=lo.item(), max=hi.item())
        return torch.softmax(raw, dim=-1)
