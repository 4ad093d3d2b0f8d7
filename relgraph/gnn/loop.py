"""The one GNN epoch loop (node tasks and ranking): optimiser step with gradient clipping,
validation after each epoch, early stopping on it, the best weights kept, a checkpoint per epoch
to resume from. A model brings only its batches and its per-batch loss.

With several workers (``relgraph.gnn.distributed``) each runs this loop on its own batches; the
epoch's training loss is averaged over them, worker 0's validation score decides early stopping
for all, and only worker 0 writes checkpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from relgraph.stages import stage

if TYPE_CHECKING:
    from relgraph.gnn.distributed import WorkerGroup
    from relgraph.gnn.predictor import GNNPredictor

logger = logging.getLogger(__name__)

#: Largest gradient norm of a step.
CLIP_NORM = 1.0


@dataclass
class EpochPlan:
    """What differs between the trainers.

    Attributes:
        batches: epoch -> that epoch's batches (any objects ``loss`` understands).
        loss: batch -> scalar loss tensor, or None to skip the batch.
        validate: () -> (``val_*`` metrics for the record, score: higher is better); None
            without validation rows (the score is then minus the training loss).
        progress: (bar description, postfix name, record key shown under it).
        group: the workers training together (``relgraph.gnn.distributed``); None in one process.
        rows: training rows, for the stage record (``relgraph.stages``).
        epoch_rows: training rows one epoch trains on (``GNNConfig.patience_rows`` counts them).
        model: the model trained (None: ``predictor.model``).
        epochs: epochs to run (None: ``predictor.config.epochs``).
        refit: a refit (``GNNPredictor.refit_model_``): exactly ``epochs`` epochs, no early stopping,
            the last weights kept, no checkpoint, records into ``predictor.refit_history_``.
        on_best: called when an epoch becomes the best so far, right after its validation (the
            weights kept are then those ``validate`` just scored).
    """

    batches: Callable[[int], Iterable[Any]]
    loss: Callable[[Any], torch.Tensor | None]
    validate: Callable[[], tuple[dict[str, float], float]] | None
    progress: tuple[str, str, str]
    group: WorkerGroup | None = None
    rows: int | None = None
    epoch_rows: int | None = None
    model: torch.nn.Module | None = None
    epochs: int | None = None
    refit: bool = False
    on_best: Callable[[], None] | None = None


def adamw(parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """The GNNs' optimiser: AdamW as one fused kernel per step; the per-tensor loop's Python was about a
    tenth of a CPU step (the 1M demo's GNN steps 0.88x the time; benchmarks/README.md, #25 session 15)."""
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=True)


def train_epochs(predictor: GNNPredictor, optimizer: torch.optim.Optimizer, plan: EpochPlan) -> float:
    """Run ``predictor.config.epochs`` epochs (resuming from its checkpoint), append one record per
    epoch to ``predictor.history_`` and leave the best epoch's weights in ``predictor.model`` (a
    refit plan: see :class:`EpochPlan`); returns the seconds spent in training steps (validation excluded)."""
    model = plan.model or predictor.model
    assert model is not None
    cfg = predictor.config
    epochs = cfg.epochs if plan.epochs is None else plan.epochs
    group = plan.group
    main = group is None or group.is_main
    best_score, best_state, bad_epochs, start_epoch = -np.inf, None, 0, 0
    resumed = None if plan.refit else predictor._load_checkpoint(optimizer, group)
    if resumed is not None:
        start_epoch, best_score, best_state, bad_epochs = resumed
    history = predictor.refit_history_ if plan.refit else predictor.history_  # after a resume replaced it
    desc, shown_name, shown_key = plan.progress
    total_seconds = 0.0
    with stage(f"{desc} epochs", rows=plan.rows, total=epochs - start_epoch, unit="epoch",
                show=not predictor.quiet and main) as bar:
        for epoch in range(start_epoch, epochs):
            epoch_start = time.perf_counter()
            model.train()
            losses = []
            for batch in plan.batches(epoch):
                loss = plan.loss(batch)
                if loss is None:
                    continue
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
                optimizer.step()
                losses.append(loss.item())
            epoch_seconds = time.perf_counter() - epoch_start
            total_seconds += epoch_seconds
            train_loss = float(np.mean(losses)) if losses else float("nan")
            if group is not None:
                train_loss = group.mean(train_loss)
            record: dict[str, float] = {"epoch": epoch + 1, "train_loss": train_loss}
            if plan.validate is not None:
                val_record, score = plan.validate()
                if group is not None:  # worker 0's decides: all keep the same best epoch and stop together
                    val_record, score = group.broadcast((val_record, score))
                record.update(val_record)
            else:
                score = -record["train_loss"]
            record["seconds"] = epoch_seconds
            history.append(record)
            logger.info("epoch %d: %s", epoch + 1, {k: round(v, 4) for k, v in record.items()})
            bar.advance(1, loss=f"{record['train_loss']:.4f}", **{shown_name: f"{record.get(shown_key, float('nan')):.4f}"})
            if plan.refit:  # the last weights are kept: no score to choose by, no run to resume
                continue
            if score > best_score or best_state is None:
                best_score, bad_epochs = score, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if plan.on_best is not None:
                    plan.on_best()
            else:
                bad_epochs += 1
            if main:
                predictor._save_checkpoint(optimizer, epoch + 1, best_score, best_state, bad_epochs)
            if bad_epochs >= cfg.patience or (plan.epoch_rows and cfg.patience_rows
                                               and bad_epochs * plan.epoch_rows >= cfg.patience_rows):
                logger.info("early stop after epoch %d (no validation gain for %d epochs)", epoch + 1, bad_epochs)
                break
    if not plan.refit:
        assert best_state is not None
        model.load_state_dict(best_state)
    return total_seconds
