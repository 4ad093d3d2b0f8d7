"""The one place that maps a model kind to its class: new members for a run, saved ones from a run folder.

A kind has one class per task family: ``node`` (binary, regression, multiclass) and ``ranking``.
Classes are imported when first asked for, so a LightGBM run never imports torch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from relgraph.errors import ModelError
from relgraph.predictor import Predictor

#: Kinds a run trains. A blend is not a kind of its own here: it combines fitted members
#: (``runs.blend``, which loads its members through this registry).
MEMBER_KINDS = ("gnn", "lightgbm")
#: Kinds of a single model each: the members and ``hybrid`` (LightGBM over temporal features
#: plus out-of-fold GNN scores, ``runs.hybrid``; node tasks only).
KINDS = (*MEMBER_KINDS, "hybrid")


def task_family(task_type: str | None) -> str:
    """``ranking`` for ranking tasks, else ``node``."""
    return "ranking" if task_type == "ranking" else "node"


def model_class(kind: str, task_type: str | None) -> type[Any]:
    """The class behind ``kind`` for tasks of ``task_type``."""
    family = task_family(task_type)
    if kind == "gnn" and family == "node":
        from relgraph.gnn import GNNPredictor

        return GNNPredictor
    if kind == "gnn":
        from relgraph.gnn import RankingGNNPredictor

        return RankingGNNPredictor
    if kind == "lightgbm" and family == "node":
        from relgraph.baselines import LightGBMPredictor

        return LightGBMPredictor
    if kind == "lightgbm":
        from relgraph.baselines.ranking import LightGBMRanker

        return LightGBMRanker
    if kind == "hybrid" and family == "node":
        from relgraph.runs.hybrid import HybridPredictor

        return HybridPredictor
    if kind == "hybrid":
        raise ModelError("the hybrid model covers binary, regression and multiclass tasks, not ranking")
    raise ModelError(f"unknown model {kind!r}; use one of {KINDS}")


def new_model(kind: str, task_type: str | None, seed: int = 0, quiet: bool = False, gnn_config: Any = None,
              model_dir: Path | None = None, label_context: bool = False) -> Predictor:
    """An untrained model of ``kind`` (``gnn`` | ``lightgbm`` | ``hybrid``) for ``task_type``.

    GNNs checkpoint into ``model_dir``. A ranking GNN uses a ``RankingGNNConfig`` as given, while
    fields of a plain ``GNNConfig`` (the CLI's) that differ from its defaults override the
    ranking defaults. ``label_context``: node LightGBM (alone or in the hybrid) also gets the
    entity's own earlier labels as features (``baselines.label_context``)."""
    cls = model_class(kind, task_type)
    context = {"label_context": True} if label_context and task_family(task_type) == "node" else {}
    if kind == "lightgbm":
        return cls(seed=seed, **context)
    if kind == "hybrid":
        return cls(seed=seed, gnn_config=gnn_config, quiet=quiet, model_dir=model_dir, lightgbm=context)
    from relgraph.gnn.config import GNNConfig, RankingGNNConfig

    if task_family(task_type) == "node":
        config = dataclasses.replace(gnn_config or GNNConfig(), seed=seed)
    elif isinstance(gnn_config, RankingGNNConfig):
        config = dataclasses.replace(gnn_config, seed=seed)
    else:
        given = dataclasses.asdict(gnn_config) if gnn_config is not None else {}
        defaults = dataclasses.asdict(GNNConfig())
        overrides = {name: value for name, value in given.items() if value != defaults[name]}
        config = dataclasses.replace(RankingGNNConfig(), **{**overrides, "seed": seed})
    return cls(config, checkpoint_dir=model_dir, quiet=quiet)


def load_model(kind: str, task_type: str | None, directory: Path) -> Predictor:
    """The model of ``kind`` for ``task_type`` saved in ``directory``."""
    return model_class(kind, task_type).load(Path(directory))
