"""The epoch loop's early stopping: by epochs without a validation gain, and by training rows."""

from __future__ import annotations

import torch

from relgraph.gnn.loop import EpochPlan, train_epochs
from relgraph.gnn.predictor import GNNConfig, GNNPredictor

#: Validation scores of successive epochs: the best at epoch 2, none better after it.
SCORES = [0.70, 0.75, 0.74, 0.73, 0.72, 0.71, 0.70, 0.69]


def _epochs_run(epoch_rows: int, **config) -> list[int]:
    predictor = GNNPredictor(GNNConfig(epochs=len(SCORES), patience=3, graph_cache_dir=None, **config), quiet=True)
    model = predictor.model = torch.nn.Linear(1, 1)
    scores = iter(SCORES)
    plan = EpochPlan(batches=lambda epoch: [torch.ones(4, 1)], loss=lambda batch: model(batch).pow(2).mean(),
                     validate=lambda: ({"val_auroc": 0.0}, next(scores)), progress=("gnn", "train_loss", "train_loss"),
                     rows=epoch_rows, epoch_rows=epoch_rows)
    train_epochs(predictor, torch.optim.AdamW(model.parameters()), plan)
    return [record["epoch"] for record in predictor.history_]


def test_small_epochs_stop_after_patience_epochs_without_a_gain() -> None:
    assert _epochs_run(10_000) == [1, 2, 3, 4, 5]  # 3 x 10k rows < patience_rows


def test_large_epochs_stop_after_patience_rows_without_a_gain() -> None:
    assert _epochs_run(150_000, patience_rows=250_000) == [1, 2, 3, 4]  # 2 x 150k rows >= 250k
    assert _epochs_run(250_000, patience_rows=250_000) == [1, 2, 3]
    assert _epochs_run(250_000, patience_rows=None) == [1, 2, 3, 4, 5]
