"""``relgraph explain SOURCE --model DIR --id KEY [--id KEY ...] [--at T] [--json]``.

Explains one prediction per id: the contribution of each table, of the rows that mattered
(primary key, time, columns) and of each engineered feature (LightGBM), at ``--at`` (default:
where the run's target rows end in SOURCE). Reads SOURCE only; only rows with time <= ``--at`` count.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain a trained model's prediction for an entity",
        description="Load the model in --model DIR and explain its prediction for each --id at --at "
        "(default: where the run's target rows end) by table, row and feature.",
    )
    parser.add_argument("source", help="the database (same schema as at training; other tables are left out)")
    parser.add_argument("--model", required=True, type=Path, help="run folder written by `relgraph train`")
    parser.add_argument("--id", required=True, action="append", dest="ids", metavar="KEY",
                        help="entity key value (repeat for several)")
    parser.add_argument("--at", help="prediction time (default: where the rows the run's target counts end)")
    parser.add_argument("--json", action="store_true", help="print the full explanation as JSON")
    parser.add_argument("--rows", type=int, default=5, help="rows listed in the text output (default 5)")
    parser.add_argument("--schema", metavar="FILE", help="schema file (default: the run's, if it used one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relgraph.runs.api import load
    from relgraph.runs.explain import summary_lines

    run_folder = load(args.model)
    out = run_folder.explain(run_folder.connect(args.source, args.schema), list(args.ids), args.at)
    if args.json:
        print(json.dumps(out if len(out) > 1 else out[0], indent=1, default=str))
        return 0
    for i, exp in enumerate(out):
        if i:
            print()
        print("\n".join(summary_lines(exp, rows=args.rows, features=args.rows)))
    return 0
