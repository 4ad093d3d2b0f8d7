"""``relgraph predict SOURCE --model DIR [--at T] [--out FILE] [--write-table NAME]``.

Predicts for every entity the run's query selects at time ``--at`` (default: where the rows the
run's target counts end; a run on task tables: the latest time in the database). Prints a preview, or writes ``--out`` (.parquet or .csv). Only with
``--write-table`` does relgraph write to the source: a NEW table, never an existing one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relgraph.errors import SourceError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict with a trained model for every entity at a time",
        description="Load the model in --model DIR (a `relgraph train --out` folder) and predict for "
        "every entity its query selects at --at (default: where the run's target rows end).",
    )
    parser.add_argument("source", help="the database to predict on (same schema as at training; other tables are left out)")
    parser.add_argument("--model", required=True, type=Path, help="run folder written by `relgraph train`")
    parser.add_argument("--at", help="prediction time (default: where the rows the run's target counts end)")
    parser.add_argument("--out", type=Path, help="write predictions to FILE (.parquet or .csv)")
    parser.add_argument("--write-table", metavar="NAME", help="create table NAME in SOURCE with the predictions")
    parser.add_argument("--schema", metavar="FILE", help="schema file (default: the run's, if it used one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relgraph.runs.api import Run

    run_folder = Run(args.model)
    frame = run_folder.predict(run_folder.connect(args.source, args.schema), args.at)
    if args.out:
        suffix = args.out.suffix.lower()
        if suffix == ".csv":
            frame.to_csv(args.out, index=False)
        elif suffix in (".parquet", ".pq"):
            frame.to_parquet(args.out, index=False)
        else:
            raise SourceError(f"--out {args.out}: use a .parquet or .csv file name")
        print(f"relgraph: wrote {len(frame)} predictions to {args.out}", file=sys.stderr)
    if args.write_table:
        from relgraph.connectors.writeback import write_table

        where = write_table(args.source, args.write_table, frame)
        print(f"relgraph: created table {where} with {len(frame)} rows", file=sys.stderr)
    if not args.out and not args.write_table:
        print(frame.to_string(index=False, max_rows=30))
    return 0
