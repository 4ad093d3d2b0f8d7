"""``relgraph evaluate SOURCE --model DIR``: recompute the kept model's validation and test metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="recompute a trained model's metrics on a database",
        description="Rebuild the run's task on SOURCE and print the kept model's val/test metrics as JSON.",
    )
    parser.add_argument("source", help="the database (same schema as at training; other tables are left out)")
    parser.add_argument("--model", required=True, type=Path, help="run folder written by `relgraph train`")
    parser.add_argument("--schema", metavar="FILE", help="schema file (default: the run's, if it used one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relgraph.runs.api import Run

    run_folder = Run(args.model)
    print(json.dumps(run_folder.evaluate(run_folder.connect(args.source, args.schema)), indent=2))
    return 0
