"""``GNNPredictor``: the temporal heterogeneous GNN behind ``relgraph train --model gnn``.

fit: graph of the database -> feature space frozen at the training cutoff -> seeds
(entity row, timestamp) from the task tables -> mini-batches from the temporal sampler
(most-recent-first by default: recency carries most of the signal in event data) -> RelGNN ->
early stopping on the validation split's primary metric; the best weights are kept.

Reproducible: ``torch.manual_seed``, the epoch permutation and every batch's sampler RNG derive
from ``config.seed``; checkpoints (weights, optimiser, history, epoch) allow resuming.
Saved with safetensors (weights) + JSON (config, feature space, schema); loading never unpickles.
``config.workers > 1`` (or a torchrun launch) trains with several workers: ``relgraph.gnn.distributed``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.gnn.config import GNNConfig
from relgraph.gnn.loop import EpochPlan, adamw, train_epochs
from relgraph.gnn.tensors import FeatureStore
from relgraph.graph import TemporalGraph
from relgraph.graph.mmap import graph_for
from relgraph.json_values import json_or_text
from relgraph.metrics import PRIMARY_METRIC, primary_score, signed, task_metrics
from relgraph.nn import RecentHistory, RelGNN, TableInputs, TaskHead
from relgraph.query.horizon import labels_known_from
from relgraph.query.task import TaskTables
from relgraph.sampling import SampledBatch, TemporalNeighborLoader, TemporalSampler
from relgraph.sampling.fanouts import parent_event_edges
from relgraph.schema.io import schema_to_dict
from relgraph.schema.times import to_seconds
from relgraph.schema_check import trained_view
from relgraph.stages import stage

if TYPE_CHECKING:
    from relgraph.gnn.distributed import WorkerGroup

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "gnn.safetensors"
REFIT_WEIGHTS_FILE = "gnn_refit.safetensors"
STATE_FILE = "gnn.json"
CHECKPOINT_FILE = "checkpoint.pt"


class GNNPredictor:
    """Predictor protocol (``relgraph.predictor``) for binary, regression and multiclass tasks.

    Fitted state: ``model``, ``store``, ``classes_`` (multiclass), ``history_`` (per epoch), ``timing_``;
    ``refit_model_`` and ``refit_`` (``config.refit``: the model for rows from ``refit_["from"]``, or
    why there is none), ``parent_edges_`` (``config.parent_hop``: the edge types of the third hop)."""

    name = "gnn"

    def __init__(self, config: GNNConfig | None = None, checkpoint_dir: str | Path | None = None,
                 quiet: bool = False) -> None:
        self.config = config or GNNConfig()
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.quiet = quiet
        self.model: RelGNN | None = None
        self.store: FeatureStore | None = None
        self.task_type = ""
        self.entity_table = ""
        self.entity_key = ""
        self.classes_: list[Any] = []
        self.head_args: dict[str, Any] = {}
        self.edge_types: list[tuple[str, str, str]] = []
        self.schema: dict[str, Any] = {}
        self.history_: list[dict[str, float]] = []
        self.timing_: dict[str, float] = {}
        self.refit_model_: RelGNN | None = None
        self.refit_: dict[str, Any] | None = None
        self.refit_history_: list[dict[str, float]] = []
        self.parent_edges_: list[tuple[str, str, str]] = []
        self._graph_cache: tuple[weakref.ref, TemporalGraph, dict[str, TableInputs], TemporalSampler] | None = None
        #: Torch threads while one of several workers (None: ``config.num_threads``).
        self._threads: int | None = None
        #: (database, validation frame, predictions) of the epoch kept, made by its validation: the
        #: run's validation predictions reuse them (the same weights and sampling: the same values).
        self._kept_validation: tuple[weakref.ref, pd.DataFrame, np.ndarray] | None = None

    # ---- data plumbing -------------------------------------------------------------------------
    def _prepare(
        self, db: Database, graph: TemporalGraph | None = None
    ) -> tuple[TemporalGraph, dict[str, TableInputs], TemporalSampler]:
        """Graph, full-table inputs and sampler for ``db`` (reused while ``db`` is the same object).

        Without ``graph``, the graph is built from :func:`trained_view`: only the tables the model
        was trained on, after checking them against training (``ModelError`` on a difference)."""
        # A weak reference, never id(db): a freed database's id is reused by the next object.
        if self._graph_cache is not None and self._graph_cache[0]() is db:
            return self._graph_cache[1:]
        assert self.store is not None
        if graph is None:
            graph = graph_for(trained_view(db, self.schema), getattr(self.config, "graph", "memory"),
                              cache_dir=self.config.graph_cache_dir, text_encoder=self.config.text_encoder)
        inputs = self.store.inputs(graph)
        sampler = TemporalSampler(graph, self._fanouts(), strategy=self.config.strategy)
        self._graph_cache = (weakref.ref(db), graph, inputs, sampler)
        return graph, inputs, sampler

    def _fanouts(self) -> list[int] | dict[tuple[str, str, str], list[int]]:
        """The sampler's fanouts: ``config.fanouts``, plus the third hop on ``parent_edges_`` when any."""
        base = list(self.config.fanouts)
        if not self.parent_edges_:
            return base
        parent = set(self.parent_edges_)
        return {et: [*base, self.config.parent_hop if et in parent else 0] for et in self.edge_types}

    def _seed_rows(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Entity key values of ``frame`` -> row positions in the entity table."""
        if self.entity_key not in frame.columns:
            raise ModelError(f"rows to predict need the entity key column {self.entity_key!r}")
        keys = pd.Index(db.tables[self.entity_table].column(self.entity_key).to_pandas())
        wanted = frame[self.entity_key]
        if wanted.dtype != keys.dtype:
            wanted = wanted.astype(keys.dtype) if keys.dtype != object else wanted.astype(str)
        rows = keys.get_indexer(wanted)
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            raise ModelError(
                f"row {missing[0]}: {self.entity_key}={frame[self.entity_key].iloc[missing[0]]} is not in "
                f"table {self.entity_table!r}; predict only for existing entities"
            )
        return rows.astype(np.int64)

    def _batch_tensors(self, batch: SampledBatch, inputs: dict[str, TableInputs]) -> tuple[dict, dict, dict, dict]:
        feats, rel_time, seed_time, edge_index = {}, {}, {}, {}
        for nt in batch.node_types:
            store = batch[nt]
            feats[nt] = inputs[nt].select(store.n_id)
            rel_time[nt] = store.rel_time.double()
            seed_time[nt] = store.seed_time.double()
        for et in batch.edge_types:
            edge_index[et] = batch[et].edge_index
        return feats, rel_time, seed_time, edge_index

    def _forward(self, batch: SampledBatch, inputs: dict[str, TableInputs], module: torch.nn.Module | None = None) -> torch.Tensor:
        """The model's output for ``batch``; through ``module`` (the model wrapped in DDP) when given."""
        assert self.model is not None
        feats, rel_time, seed_time, edge_index = self._batch_tensors(batch, inputs)
        degree = self._true_degree(batch)
        return (module or self.model)(feats, rel_time, seed_time, edge_index, self.entity_table,
                                      int(batch.batch_size), degree, _hops(batch))

    def _true_degree(self, batch: SampledBatch) -> dict[Any, torch.Tensor] | None:
        """The sampler's eligible neighbour counts per edge type (``config.true_degree``), else None."""
        if not getattr(self.config, "true_degree", False):
            return None
        return {et: batch[et].eligible for et in batch.edge_types if "eligible" in batch[et]}

    def _encode_labels(self, labels: pd.Series) -> np.ndarray:
        if self.task_type == "binary":
            return labels.astype(float).to_numpy()
        if self.task_type == "regression":
            return labels.astype(float).to_numpy()
        index = {c: i for i, c in enumerate(self.classes_)}
        return labels.map(index).fillna(-1).astype(np.int64).to_numpy()

    # ---- training ------------------------------------------------------------------------------
    def _build_model(self) -> RelGNN:
        assert self.store is not None
        cfg = self.config
        head = TaskHead(self.task_type, cfg.hidden, dropout=cfg.dropout, **self.head_args)
        specs = self.store.specs()
        history = None
        if cfg.history_windows:
            into_seed = {et: specs[et[0]].num_numerical for et in self.edge_types if et[2] == self.entity_table}
            extremes = getattr(cfg, "history_extremes", False)
            history = RecentHistory(cfg.history_windows, into_seed, cfg.hidden, extremes) if into_seed else None
        model = RelGNN(
            specs,
            self.edge_types,
            head,
            hidden=cfg.hidden,
            num_layers=len(cfg.fanouts) + bool(self.parent_edges_),
            conv=cfg.conv,
            aggr=cfg.aggr,
            heads=cfg.heads,
            dropout=cfg.dropout,
            history=history,
        )
        for enc in model.encoders.values():
            enc.unseen_dropout = cfg.unseen_dropout
            enc.text_dropout = cfg.unseen_dropout if getattr(cfg, "unseen_static", False) else 0.0
        return model

    def fit(self, db: Database, task: TaskTables) -> GNNPredictor:
        if task.task_type not in ("binary", "regression", "multiclass"):
            raise ModelError(f"the GNN handles binary, regression and multiclass tasks, not {task.task_type!r}")
        if len(task.train) == 0:
            raise ModelError("the training split is empty: move --val-cutoff later or check the query")
        from relgraph.gnn import distributed

        if self.config.workers < 1:
            raise ModelError(f"workers is {self.config.workers}; use 1 or more training processes")
        if self.config.workers > 1 or distributed.torchrun_world() is not None:
            try:
                return distributed.fit_distributed(self, db, task)
            finally:
                self._threads = None
        return self._fit(db, task)

    def _fit(self, db: Database, task: TaskTables, group: WorkerGroup | None = None) -> GNNPredictor:
        """``fit`` in this process: alone, or as one of the workers of ``group``."""
        cfg = self.config
        rank, count = (group.rank, group.world_size) if group is not None else (0, 1)
        if group is not None:
            from relgraph.gnn.distributed import worker_threads

            self._threads = worker_threads(cfg.num_threads, count)
        torch.set_num_threads(self._threads or cfg.num_threads)
        torch.manual_seed(cfg.seed)
        self.task_type, self.entity_table, self.entity_key = task.task_type, task.entity_table, task.entity_key
        self.schema = schema_to_dict(db.schema)
        train, val = task.train, task.val
        started = time.perf_counter()
        with stage("graph", show=not self.quiet and (group is None or group.is_main)) as graph_stage:
            graph = graph_for(db, cfg.graph, cache_dir=cfg.graph_cache_dir, text_encoder=cfg.text_encoder)
            graph_stage.rows = int(sum(graph.num_nodes.values()))
            train_seconds = to_seconds(train["timestamp"])
            # Feature statistics from rows at or before the last training timestamp only.
            self.store = FeatureStore.fit(graph, int(train_seconds.max()), indicators=cfg.code_indicators,
                                          unseen_static=cfg.unseen_static)
            self.edge_types = [tuple(et) for et in graph.edge_types]  # type: ignore[misc]
            self.parent_edges_ = parent_event_edges(graph, self.entity_table) if cfg.parent_hop > 0 else []
            self.refit_model_, self.refit_, self.refit_history_ = None, None, []
            self._set_head_args(train["label"])
            self.model = self._build_model()
            self._graph_cache = None
            _, inputs, _ = self._prepare(db, graph)
        self.timing_["prepare_seconds"] = time.perf_counter() - started

        train_rows = self._seed_rows(db, train)
        train_y = torch.from_numpy(np.array(self._encode_labels(train["label"])))
        optimizer = adamw(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        module = group.wrap(self.model) if group is not None else self.model
        primary = PRIMARY_METRIC[self.task_type][0]

        self._kept_validation = None
        scored: dict[str, np.ndarray] = {}  # the last validation's predictions, then the kept epoch's

        def validate() -> tuple[dict[str, float], float]:
            if group is None:
                pred = scored["val"] = self.predict(db, val)
            else:  # each worker predicts every count-th row; all gather the whole
                mine = np.arange(rank, len(val), count)
                pred = group.gather_rows(len(val), mine, self.predict(db, val.iloc[mine]))
            val_metrics = task_metrics(self.task_type, val["label"], pred, self.classes_)
            record = {f"val_{k}": v for k, v in val_metrics.items() if isinstance(v, float)}
            return record, primary_score(self.task_type, val_metrics)

        plan, clock = self._epoch_plan(graph, inputs, (train_rows, train_seconds, train_y), self.model, module, group)
        plan.validate = validate if len(val) else None
        plan.progress = ("gnn", f"val_{primary}", f"val_{primary}")
        if group is None and plan.validate is not None:
            plan.on_best = lambda: scored.__setitem__("kept", scored["val"])
        total_seconds = train_epochs(self, optimizer, plan)
        if "kept" in scored:  # not when the kept epoch was validated before a resume
            self._kept_validation = (weakref.ref(db), val, scored["kept"])
        self.timing_.update(
            sample_seconds=clock["sample"],
            train_seconds=total_seconds,
            sample_share=clock["sample"] / total_seconds if total_seconds else 0.0,
        )
        if cfg.refit:
            self._refit(db, task, graph, inputs, group)
        return self

    def _epoch_plan(self, graph: TemporalGraph, inputs: dict[str, TableInputs],
                    seeds: tuple[np.ndarray, np.ndarray, torch.Tensor], model: RelGNN, module: torch.nn.Module,
                    group: WorkerGroup | None) -> tuple[EpochPlan, dict[str, float]]:
        """The epochs' batches and loss over ``seeds`` = (entity rows, seconds, encoded labels) for
        ``model`` (trained through ``module``), without validation; and the clock of sampling seconds."""
        cfg = self.config
        rank, count = (group.rank, group.world_size) if group is not None else (0, 1)
        rows, seconds, labels = seeds
        batch_size = max(16, min(cfg.batch_size, int(np.ceil(len(rows) / cfg.min_steps_per_epoch))))
        # Several workers: each step's global batch of batch_size seeds is shared between them.
        # Batches as the trainer always drew them: permutation by (seed, epoch), sampler RNG by (seed, epoch, step).
        loader = TemporalNeighborLoader(graph, self.entity_table, rows, seconds, self._fanouts(),
                                        batch_size=-(-batch_size // count), shuffle=True, seed=cfg.seed,
                                        strategy=cfg.strategy, shard=(rank, count), hetero_data=False)
        steps = len(loader)  # the same on every worker: all take each optimiser step together
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        if cfg.max_rows_per_epoch:
            steps = min(steps, max(1, -(-cfg.max_rows_per_epoch // batch_size)))
        clock = {"sample": 0.0}

        def batches(epoch: int) -> Iterator[Any]:
            # Per-epoch seeding (dropout, code dropout): a resumed run repeats the same epochs.
            torch.manual_seed(cfg.seed * 1_000_003 + epoch + 7_919 * rank)
            loader.epoch = epoch
            stream = iter(loader)
            for _ in range(steps):
                t0 = time.perf_counter()
                batch = next(stream)
                clock["sample"] += time.perf_counter() - t0
                yield batch

        def loss(batch: Any) -> torch.Tensor:
            return model.head.loss(self._forward(batch, inputs, module), labels[batch.input_id])

        return EpochPlan(batches, loss, None, ("gnn", "train_loss", "train_loss"), group, rows=len(rows),
                         epoch_rows=min(len(rows), steps * batch_size), model=model), clock

    def best_epoch(self) -> int:
        """The epoch early stopping kept (the first with the best validation primary metric; the
        last without validation)."""
        name, higher_better = PRIMARY_METRIC[self.task_type]
        scores = [signed(r.get(f"val_{name}", np.nan), higher_better) for r in self.history_]
        if not self.history_ or max(scores) == -np.inf:
            return len(self.history_)
        return int(self.history_[int(np.argmax(scores))]["epoch"])

    def _refit(self, db: Database, task: TaskTables, graph: TemporalGraph, inputs: dict[str, TableInputs],
               group: WorkerGroup | None) -> None:
        """Train ``refit_model_`` (``config.refit``) on training + labelled validation rows for
        :meth:`best_epoch` epochs, from a fresh initialisation as the first model's; feature
        statistics and head settings stay the training ones."""
        known_from = labels_known_from(task)
        if known_from is None:
            self.refit_ = {"skipped": "no validation rows or no label horizon: when every validation label is known is unknown"}
            return
        started = time.perf_counter()
        frame = pd.concat([task.train, task.val], ignore_index=True)
        labels = self._encode_labels(frame["label"])
        keep = ~pd.isna(frame["label"]).to_numpy() & (labels >= 0 if self.task_type == "multiclass" else True)
        frame, labels = frame[keep], labels[keep]
        torch.manual_seed(self.config.seed)
        model = self._build_model()
        optimizer = adamw(model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)
        seeds = (self._seed_rows(db, frame), to_seconds(frame["timestamp"]), torch.from_numpy(np.array(labels)))
        plan, _ = self._epoch_plan(graph, inputs, seeds, model, group.wrap(model) if group is not None else model, group)
        plan.progress, plan.epochs, plan.refit = ("gnn refit", "train_loss", "train_loss"), self.best_epoch(), True
        train_epochs(self, optimizer, plan)
        model.eval()
        self.refit_model_ = model
        self.refit_ = {"from": known_from.isoformat(), "epochs": plan.epochs, "rows": int(len(frame)),
                       "seconds": time.perf_counter() - started}

    def _set_head_args(self, labels: pd.Series) -> None:
        if self.task_type == "binary":
            y = labels.astype(float)
            pos = float(y.sum())
            # Balance positives and negatives in the loss; the threshold is re-chosen on validation.
            self.head_args = {"pos_weight": (len(y) - pos) / pos if pos > 0 else 1.0}
        elif self.task_type == "regression":
            y = labels.astype(float)
            std = float(y.std()) if len(y) > 1 and float(y.std()) > 0 else 1.0
            self.head_args = {
                "label_mean": float(y.median()),
                "label_std": std,
                "label_min": float(y.min()),
                "label_max": float(y.max()),
            }
        else:
            counts = labels.value_counts().sort_index()
            self.classes_ = [c.item() if hasattr(c, "item") else c for c in counts.index]
            weights = len(labels) / (len(counts) * counts.to_numpy(dtype=float))
            self.head_args = {"num_classes": len(self.classes_), "class_weight": [float(w) for w in weights]}

    # ---- checkpoints ---------------------------------------------------------------------------
    def _save_checkpoint(self, optimizer: torch.optim.Optimizer, epoch: int, best_score: float,
                         best_state: dict[str, torch.Tensor] | None, bad_epochs: int) -> None:
        if self.checkpoint_dir is None:
            return
        assert self.model is not None
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "epoch": epoch,
            "best_score": float(best_score),
            "bad_epochs": bad_epochs,
            "model": self.model.state_dict(),
            "best": best_state or {},
            "optimizer": optimizer.state_dict(),
            "history": json.dumps(self.history_),
        }
        tmp = self.checkpoint_dir / (CHECKPOINT_FILE + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(self.checkpoint_dir / CHECKPOINT_FILE)

    def _load_checkpoint(self, optimizer: torch.optim.Optimizer,
                         group: WorkerGroup | None = None) -> tuple[int, float, dict, int] | None:
        """Resume from ``checkpoint_dir`` when a checkpoint of the same model shape is there
        (several workers: worker 0's, sent to all)."""
        payload = None
        if group is None or group.is_main:
            if self.checkpoint_dir is not None and (self.checkpoint_dir / CHECKPOINT_FILE).exists():
                payload = torch.load(self.checkpoint_dir / CHECKPOINT_FILE, weights_only=True)
        if group is not None:
            payload = group.broadcast(payload)
        if payload is None:
            return None
        assert self.model is not None
        try:
            self.model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
        except (RuntimeError, KeyError, ValueError) as err:
            raise ModelError(
                f"checkpoint in {self.checkpoint_dir} does not fit this model ({err.__class__.__name__}); "
                "remove it or use another --out"
            ) from err
        self.history_ = json.loads(payload["history"])
        logger.info("resuming after epoch %d from %s", payload["epoch"], self.checkpoint_dir)
        return int(payload["epoch"]), float(payload["best_score"]), payload["best"] or None, int(payload["bad_epochs"])

    # ---- inference -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Rows ``[entity_key, "timestamp"]`` -> P(1) [n] | values [n] | probabilities [n, C]; rows
        from ``refit_["from"]`` on are scored by ``refit_model_`` when there is one."""
        if self.model is None:
            raise ModelError("the model is not trained: call fit or load first")
        kept = self._kept_validation
        if kept is not None and kept[0]() is db and kept[1] is frame and self.refit_model_ is None:
            return kept[2].copy()  # the validation rows, as the kept epoch's validation scored them
        torch.set_num_threads(self._threads or self.config.num_threads)
        _, inputs, sampler = self._prepare(db)
        rows = self._seed_rows(db, frame)
        seconds = to_seconds(frame["timestamp"])
        late = np.zeros(len(rows), dtype=bool)
        if self.refit_model_ is not None and self.refit_ is not None:  # rows every validation label was known by
            late = (pd.to_datetime(frame["timestamp"]) >= pd.Timestamp(self.refit_["from"])).to_numpy()
        parts = [(np.flatnonzero(which), model) for which, model in ((~late, self.model), (late, self.refit_model_))]
        preds = [(index, self._predict_rows(model, inputs, sampler, rows[index], seconds[index]))
                 for index, model in parts if len(index)]
        if not preds:
            return np.zeros((0, len(self.classes_))) if self.task_type == "multiclass" else np.zeros(0)
        if len(preds) == 1:
            return preds[0][1]
        out = np.empty((len(rows), *preds[0][1].shape[1:]))
        for index, pred in preds:
            out[index] = pred
        return out

    def _predict_rows(self, model: RelGNN | None, inputs: dict[str, TableInputs], sampler: TemporalSampler,
                      rows: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        assert model is not None
        was_training = model.training
        model.eval()
        outputs = []
        size = self.config.eval_batch_size
        for i, start in enumerate(range(0, len(rows), size)):
            batch = sampler.sample_batch(
                self.entity_table, rows[start : start + size], seconds[start : start + size],
                np.random.default_rng([self.config.seed, 1_000_003, i]),
            )
            outputs.append(model.head.predict(self._forward(batch, inputs, model)))
        model.train(was_training)
        return torch.cat(outputs).numpy().astype(np.float64)

    # ---- persistence ---------------------------------------------------------------------------
    #: Files and config class of a saved model (a subclass names its own).
    weights_file = WEIGHTS_FILE
    state_file = STATE_FILE
    config_class: type[GNNConfig] = GNNConfig
    description = "GNN model"
    #: The GNN has no per-feature importance.
    feature_importance_: pd.Series | None = None

    # Names before the fitted-state convention, kept for existing callers.
    @property
    def classes(self) -> list[Any]:
        return self.classes_

    @property
    def history(self) -> list[dict[str, float]]:
        return self.history_

    @property
    def timing(self) -> dict[str, float]:
        return self.timing_

    def _task_state(self) -> dict[str, Any]:
        """What ``save`` stores beyond the shared parts (the head's task)."""
        return {
            "task_type": self.task_type,
            "entity_table": self.entity_table,
            "entity_key": self.entity_key,
            "classes": self.classes_,
            "head_args": self.head_args,
        }

    def _restore_task_state(self, state: dict[str, Any]) -> None:
        self.task_type = state["task_type"]
        self.entity_table, self.entity_key = state["entity_table"], state["entity_key"]
        self.classes_ = state["classes"]
        self.head_args = state["head_args"]

    def save(self, directory: Path) -> None:
        if self.model is None or self.store is None:
            raise ModelError("nothing to save: the model is not trained")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        weights = {k: v.contiguous() for k, v in self.model.state_dict().items()}
        save_file(weights, str(directory / self.weights_file))
        if self.refit_model_ is not None:
            save_file({k: v.contiguous() for k, v in self.refit_model_.state_dict().items()},
                      str(directory / REFIT_WEIGHTS_FILE))
        state = {
            "config": dataclasses.asdict(self.config),
            **self._task_state(),
            "edge_types": [list(et) for et in self.edge_types],
            "schema": self.schema,
            "features": self.store.to_dict(),
            "history": self.history_,
            "timing": self.timing_,
            "refit": self.refit_,
            "refit_history": self.refit_history_,
            "parent_edges": [list(et) for et in self.parent_edges_],
        }
        (directory / self.state_file).write_text(json.dumps(state, indent=1, default=json_or_text))

    @classmethod
    def load(cls, directory: Path, quiet: bool = True) -> GNNPredictor:
        directory = Path(directory)
        if not (directory / cls.state_file).exists():
            raise ModelError(
                f"{directory} holds no {cls.description} ({cls.state_file} missing); pass a `relgraph train --out` folder"
            )
        state = json.loads((directory / cls.state_file).read_text())
        self = cls(cls.config_class(**state["config"]), quiet=quiet)
        self._restore_task_state(state)
        self.edge_types = [tuple(et) for et in state["edge_types"]]  # type: ignore[misc]
        self.schema, self.history_, self.timing_ = state["schema"], state["history"], state.get("timing", {})
        self.store = FeatureStore.from_dict(state["features"])
        self.parent_edges_ = [tuple(et) for et in state.get("parent_edges", [])]  # type: ignore[misc]
        self.refit_, self.refit_history_ = state.get("refit"), state.get("refit_history", [])
        self.model = self._build_model()
        try:
            self.model.load_state_dict(load_file(str(directory / self.weights_file)))
            if (self.refit_ or {}).get("from") is not None:
                self.refit_model_ = self._build_model()
                self.refit_model_.load_state_dict(load_file(str(directory / REFIT_WEIGHTS_FILE)))
                self.refit_model_.eval()
        except RuntimeError as err:
            raise ModelError(
                f"{directory / self.weights_file} does not fit the model described in {self.state_file} "
                f"(saved by another relgraph version?); retrain with `relgraph train`"
            ) from err
        self.model.eval()
        return self


def _hops(batch: SampledBatch) -> tuple[dict, dict] | None:
    """The batch's per-hop node and edge counts when it is a sampled tree (the sampler's batches), so
    the layers skip what no later layer reads; None for other batches (explanations' unions)."""
    if batch.num_sampled_nodes_dict is None or batch.num_sampled_edges_dict is None:
        return None
    return batch.num_sampled_nodes_dict, batch.num_sampled_edges_dict
