"""``relgraph predict SOURCE --model DIR [--at T] [--out FILE] [--write-table NAME]``.

Predicts for every entity the run's query selects at time ``--at`` (default: the latest time in
the database). Prints a preview, or writes ``--out`` (.parquet or .csv). Only with
``--write-table`` does relgraph write to the source: a NEW table, never an existing one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from relgraph.errors import SourceError

if TYPE_CHECKING:
    from relgraph.database import Database


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict with a trained model for every entity at a time",
        description="Load the model in --model DIR (a `relgraph train --out` folder) and predict for "
        "every entity its query selects at --at (default: latest time in SOURCE).",
    )
    parser.add_argument("source", help="the database to predict on (same schema as at training; other tables are left out)")
    parser.add_argument("--model", required=True, type=Path, help="run folder written by `relgraph train`")
    parser.add_argument("--at", help="prediction time (default: the latest time in the database)")
    parser.add_argument("--out", type=Path, help="write predictions to FILE (.parquet or .csv)")
    parser.add_argument("--write-table", metavar="NAME", help="create table NAME in SOURCE with the predictions")
    parser.add_argument("--schema", metavar="FILE", help="schema file (default: the run's, if it used one)")
    parser.set_defaults(func=run)


def connect_like_run(source: str, run_dir: Path, schema: str | None) -> Database:
    """Open ``source`` with ``schema``, else with the run's schema file when training used one,
    restricted to the tables the run was trained on (those of its ``schema.toml``): tables the
    source has grown since, such as written predictions, are left out."""
    import tomllib

    from relgraph.database import connect
    from relgraph.runs.runner import read_config
    from relgraph.schema_check import trained_tables_only

    if schema is None and read_config(run_dir).get("schema_file"):
        schema = str(run_dir / "schema.toml")
    trained = tomllib.loads((run_dir / "schema.toml").read_text())["tables"]
    return trained_tables_only(connect(source, schema=schema), trained)


def run(args: argparse.Namespace) -> int:
    from relgraph.runs.runner import predict_run

    db = connect_like_run(args.source, args.model, args.schema)
    frame = predict_run(db, args.model, args.at)
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
