"""``RankingGNNPredictor``: the GNN for ``LIST_DISTINCT(...) RANK TOP k`` queries (link prediction).

For a prediction row (entity e, time t):

1. entity tower: the temporal sampler draws e's neighbourhood as of t (seed = (e, t)) and the
   RelGNN embeds it, exactly as for the other task types;
2. target tower: every candidate target row c that exists at t is a seed (c, t) of its own, the
   same RelGNN embeds its neighbourhood as of t, plus a learned id embedding for targets seen
   by the training cutoff (unseen ids share one row);
3. identity-aware pair features of (e, c) at t: from the query's event log (how often and how
   recently e picked c, c's popularity in windows before t, c's age; events <= t only) and, as
   in RelBench's ID-GNN, how often the row c appears in e's sampled subgraph (e.g. a user's own
   posts, or posts the user commented on);
4. :class:`relgraph.nn.link.LinkScorer` scores every candidate; the top k are returned.

Training: batches of rows sharing one timestamp t; candidates = the batch's positives, the
batch entities' past targets (hard negatives) and ``negatives`` random targets existing at t;
sampled-softmax loss; early stopping on validation MAP@k. Reuses :class:`GNNPredictor`'s
plumbing (feature store, sampler, seeds, checkpoints, schema check).
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.gnn.config import RankingGNNConfig
from relgraph.gnn.loop import EpochPlan, adamw, train_epochs
from relgraph.gnn.predictor import GNNPredictor
from relgraph.gnn.tensors import FeatureStore
from relgraph.graph.mmap import graph_for
from relgraph.metrics import ranking_metrics
from relgraph.nn import RelGNN, TableInputs
from relgraph.nn.link import LinkScorer
from relgraph.query.interactions import InteractionLog, RankingSpec
from relgraph.query.task import TaskTables
from relgraph.sampling import TemporalSampler
from relgraph.schema.io import schema_to_dict
from relgraph.schema.times import to_seconds
from relgraph.stages import stage

WEIGHTS_FILE = "ranking_gnn.safetensors"
STATE_FILE = "ranking_gnn.json"
#: Dense pair features the scorer receives (see ``_pair_tensor``).
NUM_PAIR_FEATURES = 10


class _RankingModel(nn.Module):
    """The shared RelGNN (both towers) and the link scorer."""

    def __init__(self, gnn: RelGNN, scorer: LinkScorer) -> None:
        super().__init__()
        self.gnn = gnn
        self.scorer = scorer


class _Split:
    """One frame's prediction rows with their history and popularity, precomputed once."""

    def __init__(self, predictor: RankingGNNPredictor, db: Database, log: InteractionLog, frame: pd.DataFrame) -> None:
        spec = log.spec
        self.rows = predictor._seed_rows(db, frame)
        self.seconds = to_seconds(frame["timestamp"])
        hist = log.history(frame[spec.entity_key], frame["timestamp"])
        hist["position"] = pd.Index(log.target_ids).get_indexer(hist["target"].to_numpy())
        self.hist = hist.sort_values("row", kind="stable").reset_index(drop=True)
        self.hist_start = np.searchsorted(self.hist["row"].to_numpy(), np.arange(len(frame) + 1))
        pop = log.popularity(frame["timestamp"])
        pop["position"] = pd.Index(log.target_ids).get_indexer(pop["target"].to_numpy())
        self.pop = {int(t): g for t, g in pop.groupby("t")}
        self.labels = log.labels_as_positions(frame["label"]) if "label" in frame.columns else None

    def history_of(self, idx: np.ndarray) -> pd.DataFrame:
        """History rows of frame rows ``idx`` with ``batch_row`` = place of the row in ``idx``."""
        starts, ends = self.hist_start[idx], self.hist_start[idx + 1]
        take = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if len(idx) else np.zeros(0, np.int64)
        out = self.hist.iloc[take].copy()
        out["batch_row"] = np.repeat(np.arange(len(idx)), ends - starts)
        return out


class RankingGNNPredictor(GNNPredictor):
    """Predictor protocol for ranking tasks: ``predict`` gives object [n, k] target ids, best first;
    ``rank`` also gives their scores."""

    name = "gnn"

    def __init__(self, config: RankingGNNConfig | None = None, checkpoint_dir: str | Path | None = None,
                 quiet: bool = False) -> None:
        super().__init__(config or RankingGNNConfig(), checkpoint_dir, quiet)
        self.config: RankingGNNConfig
        self.task_type = "ranking"
        self.spec: RankingSpec | None = None
        self.query: str | None = None
        self.target_vocab: list[Any] = []
        self._log: tuple[weakref.ref, InteractionLog] | None = None
        self._target_sampler: tuple[weakref.ref, TemporalSampler] | None = None

    # ---- pieces --------------------------------------------------------------------------------
    def _build_model(self) -> _RankingModel:
        assert self.store is not None
        cfg = self.config
        gnn = RelGNN(self.store.specs(), self.edge_types, nn.Identity(), hidden=cfg.hidden,  # type: ignore[arg-type]
                     num_layers=len(cfg.fanouts), conv=cfg.conv, aggr=cfg.aggr, heads=cfg.heads, dropout=cfg.dropout)
        for enc in gnn.encoders.values():
            enc.unseen_dropout = cfg.unseen_dropout
        num_ids = len(self.target_vocab) + 1 if cfg.id_embedding else 0
        return _RankingModel(gnn, LinkScorer(cfg.hidden, NUM_PAIR_FEATURES, num_ids, cfg.dropout))

    def _samplers(self, db: Database) -> tuple[dict[str, TableInputs], TemporalSampler, TemporalSampler]:
        """Full-table inputs, the entity tower's sampler and the target tower's (smaller fanouts)."""
        graph, inputs, sampler = self._prepare(db)
        if self._target_sampler is None or self._target_sampler[0]() is not db:  # weakly: ids are reused
            self._target_sampler = (weakref.ref(db), TemporalSampler(graph, list(self.config.target_fanouts),
                                                            strategy=self.config.strategy))
        return inputs, sampler, self._target_sampler[1]

    def _interactions(self, db: Database) -> InteractionLog:
        assert self.spec is not None
        if self._log is None or self._log[0]() is not db:
            self._log = (weakref.ref(db), InteractionLog(db, self.spec))
        return self._log[1]

    def _embed(self, sampler: Any, inputs: dict[str, TableInputs], table: str, rows: np.ndarray,
               seconds: np.ndarray, rng: np.random.Generator) -> tuple[Tensor, Any]:
        """GNN embeddings [len(rows), H] of ``table`` rows seeded at ``seconds``, and the sampled batch."""
        assert self.model is not None
        batch = sampler.sample_batch(table, rows, seconds, rng)
        feats, rel_time, seed_time, edge_index = self._batch_tensors(batch, inputs)
        return self.model.gnn.embed(feats, rel_time, seed_time, edge_index)[table][: len(rows)], batch

    def _target_ids(self, log: InteractionLog, positions: np.ndarray) -> Tensor:
        """Id-embedding rows of target positions (0 = not seen by the training cutoff)."""
        index = pd.Index(self.target_vocab).get_indexer(log.target_ids.to_numpy()[positions])
        return torch.from_numpy((index + 1).astype(np.int64))

    def _pair_tensor(self, log: InteractionLog, split: _Split, idx: np.ndarray, t: int,
                     candidates: np.ndarray, batch: Any) -> Tensor:
        """float32 [len(idx), C, NUM_PAIR_FEATURES] for frame rows ``idx`` (all at time ``t``);
        ``batch`` is the rows' sampled neighbourhood (ID-GNN style: which candidates it holds)."""
        window_days = log.spec.window_seconds / 86_400.0
        out = np.zeros((len(idx), len(candidates), NUM_PAIR_FEATURES), dtype=np.float32)
        column = pd.Series(np.arange(len(candidates)), index=candidates)
        hist = split.history_of(idx)
        col = column.reindex(hist["position"].to_numpy()).to_numpy()
        ok = ~np.isnan(col)
        r, c = hist["batch_row"].to_numpy()[ok], col[ok].astype(np.int64)
        h = hist[ok]
        out[r, c, 0] = np.log1p(h["hist_count"].to_numpy())
        out[r, c, 1] = np.log1p(h["hist_count_recent"].to_numpy())
        out[r, c, 2] = np.exp(-(t - h["hist_last"].to_numpy()) / 86_400.0 / window_days)
        out[r, c, 3] = 1.0
        pop = split.pop.get(t)
        if pop is not None:
            pc = column.reindex(pop["position"].to_numpy()).to_numpy()
            pok = ~np.isnan(pc)
            pc = pc[pok].astype(np.int64)
            for j, name in enumerate(("pop_recent", "pop_long", "pop_all")):
                out[:, pc, 4 + j] = np.log1p(pop[name].to_numpy()[pok])
        if log.target_time is not None:
            age = (t - log.target_time[candidates]) / 86_400.0
            out[:, :, 7] = np.log1p(np.clip(age, 0, None))[None, :]
        else:
            out[:, :, 8] = 1.0
        # Identity awareness: how often each candidate row appears in the entity's sampled subgraph.
        store = batch[log.spec.target_table]
        seen = column.reindex(store.n_id.numpy()).to_numpy()
        hit = ~np.isnan(seen)
        np.add.at(out[:, :, 9], (store.seed.numpy()[hit], seen[hit].astype(np.int64)), 1.0)
        out[:, :, 9] = np.log1p(out[:, :, 9])
        return torch.from_numpy(out)

    def _score(self, sampler: Any, inputs: dict[str, TableInputs], log: InteractionLog, split: _Split,
               idx: np.ndarray, t: int, candidates: np.ndarray, target_emb: Tensor, rng: np.random.Generator) -> Tensor:
        """Scores [len(idx), C] of frame rows ``idx`` (time ``t``) against ``candidates``."""
        assert self.model is not None and self.spec is not None
        h, batch = self._embed(sampler, inputs, self.spec.entity_table, split.rows[idx], split.seconds[idx], rng)
        return self.model.scorer(h, target_emb, self._pair_tensor(log, split, idx, t, candidates, batch))

    def _target_embedding(self, sampler: Any, inputs: dict[str, TableInputs], log: InteractionLog,
                          candidates: np.ndarray, t: int, rng: np.random.Generator) -> Tensor:
        assert self.model is not None and self.spec is not None
        parts = []
        size = max(self.config.eval_batch_size * 4, 256)
        for start in range(0, len(candidates), size):
            chunk = candidates[start : start + size]
            parts.append(self._embed(sampler, inputs, self.spec.target_table, chunk, np.full(len(chunk), t), rng)[0])
        z = torch.cat(parts) if parts else torch.zeros(0, self.config.hidden)
        return self.model.scorer.target_embedding(z, self._target_ids(log, candidates))

    # ---- training ------------------------------------------------------------------------------
    def fit(self, db: Database, task: TaskTables) -> RankingGNNPredictor:
        if task.task_type != "ranking":
            raise ModelError(f"RankingGNNPredictor handles ranking tasks, not {task.task_type!r}; use GNNPredictor")
        if not task.query:
            raise ModelError("ranking needs the PQL query (LIST_DISTINCT ... RANK TOP k); pass --query")
        if len(task.train) == 0:
            raise ModelError("the training split is empty: move --val-cutoff later or check the query")
        from relgraph.gnn.distributed import torchrun_world

        if self.config.workers > 1 or torchrun_world() is not None:
            raise ModelError("several workers (--workers, torchrun) train binary, regression and multiclass tasks "
                             "only; train a ranking GNN with one worker")
        cfg = self.config
        torch.set_num_threads(cfg.num_threads)
        torch.manual_seed(cfg.seed)
        started = time.perf_counter()
        self.query = task.query
        assert task.parsed is not None  # parsed from task.query, checked above
        self.spec = RankingSpec.from_query(db, task.parsed)
        if task.k:
            self.spec = dataclasses.replace(self.spec, k=int(task.k))
        self.entity_table, self.entity_key = self.spec.entity_table, self.spec.entity_key
        self.schema = schema_to_dict(db.schema)
        log = self._interactions(db)
        with stage("graph", show=not self.quiet) as graph_stage:
            graph = graph_for(db, cfg.graph, cache_dir=cfg.graph_cache_dir, text_encoder=cfg.text_encoder)
            graph_stage.rows = int(sum(graph.num_nodes.values()))
            train_seconds = to_seconds(task.train["timestamp"])
            cutoff = int(train_seconds.max())
            # Feature statistics and the id vocabulary from rows at or before the last training time only.
            self.store = FeatureStore.fit(graph, cutoff)
            self.target_vocab = log.target_ids.to_numpy()[log.existing_targets(cutoff)].tolist()
            self.edge_types = [tuple(et) for et in graph.edge_types]  # type: ignore[misc]
            self.model = self._build_model()
            self._graph_cache = None
            self._prepare(db, graph)
            inputs, sampler, target_sampler = self._samplers(db)
        train = _Split(self, db, log, task.train)
        assert train.labels is not None
        self.timing_["prepare_seconds"] = time.perf_counter() - started

        optimizer = adamw(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        batches = self._batches(train.seconds, cfg.batch_size)
        spec = self.spec

        def epoch_batches(epoch: int) -> Iterator[tuple[int, int, np.ndarray]]:
            order = np.random.default_rng([cfg.seed, epoch]).permutation(len(batches))
            if cfg.max_steps_per_epoch:
                order = order[: cfg.max_steps_per_epoch]
            for step, b in enumerate(order):
                yield epoch, step, batches[b]

        def loss(batch: tuple[int, int, np.ndarray]) -> Tensor | None:
            epoch, step, idx = batch
            t = int(train.seconds[idx[0]])
            step_rng = np.random.default_rng([cfg.seed, epoch, step])
            candidates, positive = self._training_candidates(log, train, idx, t, step_rng)
            if not positive.any():
                return None
            target_emb = self._target_embedding(target_sampler, inputs, log, candidates, t, step_rng)
            scores = self._score(sampler, inputs, log, train, idx, t, candidates, target_emb, step_rng)
            return LinkScorer.loss(scores, positive)

        def validate() -> tuple[dict[str, float], float]:
            ids, _ = self.rank(db, task.val)
            val = ranking_metrics(list(task.val["label"]), _lists(ids), spec.k)
            return {f"val_{k}": v for k, v in val.items() if k != "k"}, val["map@k"]

        plan = EpochPlan(epoch_batches, loss, validate if len(task.val) else None, ("gnn-rank", "val_map", "val_map@k"),
                         rows=len(task.train))
        self.timing_.update(train_seconds=train_epochs(self, optimizer, plan))
        return self

    @staticmethod
    def _batches(seconds: np.ndarray, size: int) -> list[np.ndarray]:
        """Row indices in batches of at most ``size`` rows sharing one timestamp."""
        order = np.argsort(seconds, kind="stable")
        bounds = np.flatnonzero(np.diff(seconds[order])) + 1
        out = []
        for group in np.split(order, bounds):
            out.extend(np.array_split(group, int(np.ceil(len(group) / size))))
        return out

    def _training_candidates(self, log: InteractionLog, split: _Split, idx: np.ndarray, t: int,
                             rng: np.random.Generator) -> tuple[np.ndarray, Tensor]:
        """Candidates at ``t`` for a batch and the positive mask [B, C].

        Positives not existing at t (created inside the label window) cannot be recommended at t
        and are left out."""
        assert split.labels is not None
        existing = log.existing_targets(t)
        labels = [split.labels[i] for i in idx]
        label_pos = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        hist = split.history_of(idx)["position"].to_numpy()
        random = rng.choice(existing, size=min(self.config.negatives, len(existing)), replace=False)
        candidates = np.unique(np.concatenate([label_pos, hist[hist >= 0], random]))
        candidates = candidates[np.isin(candidates, existing)]
        column = pd.Series(np.arange(len(candidates)), index=candidates)
        positive = np.zeros((len(idx), len(candidates)), dtype=bool)
        rows = np.repeat(np.arange(len(idx)), [len(x) for x in labels])
        cols = column.reindex(label_pos).to_numpy()
        ok = ~np.isnan(cols)
        positive[rows[ok], cols[ok].astype(np.int64)] = True
        return candidates, torch.from_numpy(positive)

    # ---- inference -----------------------------------------------------------------------------
    @torch.no_grad()
    def rank(self, db: Database, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[entity_key, "timestamp"]`` -> (object [n, k] target ids, float [n, k] scores), best first.

        Candidates of a row at t: every target row existing at t. Rows with fewer candidates than
        k are padded with None / NaN."""
        if self.model is None or self.spec is None:
            raise ModelError("the model is not trained: call fit or load first")
        torch.set_num_threads(self.config.num_threads)
        inputs, sampler, target_sampler = self._samplers(db)
        log = self._interactions(db)
        split = _Split(self, db, log, frame[[self.entity_key, "timestamp"]])
        k = self.spec.k
        ids = np.full((len(frame), k), None, dtype=object)
        scores = np.full((len(frame), k), np.nan)
        was_training = self.model.training
        self.model.eval()
        target_keys = log.target_ids.to_numpy()
        for i, t in enumerate(np.unique(split.seconds)):
            rng = np.random.default_rng([self.config.seed, 1_000_003, i])
            candidates = log.existing_targets(int(t))
            if not len(candidates):
                continue
            target_emb = self._target_embedding(target_sampler, inputs, log, candidates, int(t), rng)
            rows_at = np.flatnonzero(split.seconds == t)
            for start in range(0, len(rows_at), self.config.eval_batch_size):
                idx = rows_at[start : start + self.config.eval_batch_size]
                s = self._score(sampler, inputs, log, split, idx, int(t), candidates, target_emb, rng)
                top = torch.topk(s, min(k, s.shape[1]), dim=1)
                ids[idx, : top.indices.shape[1]] = target_keys[candidates[top.indices.numpy()]]
                scores[idx, : top.values.shape[1]] = top.values.numpy()
        self.model.train(was_training)
        return ids, scores

    def predict(self, db: Database, frame: pd.DataFrame) -> np.ndarray:
        """Rows ``[entity_key, "timestamp"]`` -> object [n, k] target ids, best first."""
        return self.rank(db, frame)[0]

    # ---- persistence ---------------------------------------------------------------------------
    weights_file = WEIGHTS_FILE
    state_file = STATE_FILE
    config_class = RankingGNNConfig
    description = "ranking GNN"

    def _task_state(self) -> dict[str, Any]:
        if self.spec is None:
            raise ModelError("nothing to save: the model is not trained")
        return {
            "query": self.query,
            "spec": {**dataclasses.asdict(self.spec), "path": [list(h) for h in self.spec.path]},
            "target_vocab": self.target_vocab,
        }

    def _restore_task_state(self, state: dict[str, Any]) -> None:
        spec = dict(state["spec"])
        spec["path"] = tuple(tuple(h) for h in spec["path"])
        self.spec = RankingSpec(**spec)
        self.query = state["query"]
        self.entity_table, self.entity_key = self.spec.entity_table, self.spec.entity_key
        self.target_vocab = state["target_vocab"]


def _lists(ids: np.ndarray) -> list[list[Any]]:
    """Object [n, k] ids (None = padding) -> lists for the metrics."""
    return [[i for i in row if i is not None] for row in ids]
