"""The one place of ``relgraph.runs.explain`` / ``relgraph.serve`` that knows relgraph's predictor classes.

Everything else asks these adapters: which kind a predictor is (:func:`kind_of`),
(:class:`LoadedRun`: config, kept model, database opened like ``relgraph predict`` does), a blend's
members and weight, a LightGBM model's boosters and feature builder, a GNN's sampler and forward
pass. When the model classes move (``relgraph.train`` refactor), only this module changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.errors import ModelError

#: Kinds :func:`kind_of` answers.
KINDS = ("gnn", "lightgbm", "blend", "ranking_gnn", "ranking_lightgbm")


def kind_of(model: Any) -> str:
    """``gnn`` | ``lightgbm`` | ``blend`` | ``ranking_gnn`` | ``ranking_lightgbm`` for a loaded predictor."""
    name = type(model).__name__
    kinds = {
        "GNNPredictor": "gnn",
        "LightGBMPredictor": "lightgbm",
        "BlendPredictor": "blend",
        "RankingGNNPredictor": "ranking_gnn",
        "LightGBMRanker": "ranking_lightgbm",
    }
    if name not in kinds:
        raise ModelError(f"relgraph cannot explain a {name}; explain a GNN, LightGBM or blend run")
    return kinds[name]


def blend_parts(model: Any) -> tuple[dict[str, Any], float]:
    """A blend's members ``{"gnn": ..., "lightgbm": ...}`` and the GNN's weight."""
    assert model.weight_ is not None
    return dict(model.members), float(model.weight_)


def lightgbm_parts(model: Any, at: Any = None) -> tuple[list[Any], list[Any], Any, dict[str, Any]]:
    """A LightGBM predictor's boosters, their iterations, its feature builder and its meta; with
    ``at``, the boosters that score a row of that time (refitted ones from their start time)."""
    boosters, iterations = list(model.boosters_), list(model.meta_["iterations"])
    if at is not None:
        _, boosters, iterations = model.boosters_for([at])[0]
    return list(boosters), list(iterations), model.builder, dict(model.meta_)


def entity_of(model: Any) -> tuple[str, str]:
    """(entity table, entity key) a non-ranking predictor predicts for."""
    kind = kind_of(model)
    if kind == "blend":
        return entity_of(model.members["gnn"])
    if kind == "lightgbm":
        return model.meta_["entity_table"], model.meta_["entity_key"]
    if kind == "ranking_lightgbm":
        return model.spec.entity_table, model.spec.entity_key
    return model.entity_table, model.entity_key


@dataclass
class GNNParts:
    """What the GNN explainer needs of a fitted GNN on one database."""

    model: Any  # the torch module (RelGNN)
    inputs: dict[str, Any]  # node type -> TableInputs of the whole table
    sampler: Any  # TemporalSampler
    entity_table: str
    seed_rng: list[int]  # the RNG seed predict uses for a first batch (same subgraph as predict)
    task_type: str
    graph: Any


def gnn_parts(model: Any, db: Database) -> GNNParts:
    """The GNN's module, inputs and sampler for ``db`` (through its own ``_prepare``: same
    schema check, graph cache and sampler as ``predict``)."""
    import torch

    torch.set_num_threads(model.config.num_threads)
    graph, inputs, sampler = model._prepare(db)
    return GNNParts(model.model, inputs, sampler, model.entity_table, [model.config.seed, 1_000_003, 0],
                    model.task_type, graph)


def gnn_seed_rows(model: Any, db: Database, frame: pd.DataFrame) -> np.ndarray:
    """Entity key values -> row positions (the GNN's own lookup, with its error messages)."""
    return model._seed_rows(db, frame)


def gnn_forward(model: Any, batch: Any, parts: GNNParts) -> Any:
    """Raw head output of the GNN for a sampled batch (its own ``_forward``)."""
    return model._forward(batch, parts.inputs)
