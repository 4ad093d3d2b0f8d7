"""``relgraph query SOURCE "<PQL>"``: build a task's training tables and describe them.

Prints the task type, the cutoffs and how they were chosen, then per split the timestamps, rows,
entities and label distribution (first, when the entity is a table relgraph made from a column's
values, one line saying so: ``commits.author_email: entity made from 1,234 distinct values
(first_seen time)``); ``--explain`` also prints the SQL (with its parameter values) after the roles (the
foreign keys through which each aggregated table's rows name the entity; printed without
``--explain`` too when a table names the entity in several);
``--out DIR`` writes ``DIR/{train,val,test}.parquet`` with columns ``[<entity key>, timestamp,
label]``, and nothing when the task cannot be built (an empty or single-class split is an error).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from relgraph.cli.engine_args import add_engine_arguments, connect_options
from relgraph.query.task import label_summary

SPLITS = ("train", "val", "test")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query",
        help="turn a one-line predictive query into train/val/test tables",
        description="Parse and validate a PQL query against SOURCE, build leakage-free training "
        "tables in SQL and print their sizes and label distributions.",
    )
    parser.add_argument(
        "source", help="sqlite:///f.db, duckdb:///f.duckdb, postgresql://..., mysql://..., or a folder"
    )
    parser.add_argument(
        "pql", metavar="PQL", help='e.g. "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.id"'
    )
    parser.add_argument(
        "--val-cutoff", metavar="TIME", help="start of the validation period (default: from the data)"
    )
    parser.add_argument(
        "--test-cutoff", metavar="TIME", help="start of the test period (default: from the data)"
    )
    parser.add_argument("--out", metavar="DIR", help="write DIR/train.parquet, val.parquet, test.parquet")
    parser.add_argument("--explain", action="store_true", help="print the SQL that builds the tables")
    parser.add_argument("--schema", metavar="FILE", help="TOML/YAML schema file overriding what is inferred")
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relgraph.database import connect
    from relgraph.query import build_task, entity_database, parse, plan_sql, validate
    from relgraph.query.for_each import entity_notes
    from relgraph.query.planner import roles_lines

    query = parse(args.pql)
    db = entity_database(connect(args.source, schema=args.schema, **connect_options(args)), query)
    resolved = validate(query, db.schema)
    for note in entity_notes(db, query):  # FOR EACH a column whose values name things
        print(note)
    if args.explain:
        print(plan_sql(db, query))
        print()
        if db.engine == "spark":  # what Spark runs: the same statement, translated (typed literals bound)
            from relgraph.engines import engine_for
            from relgraph.query.planner import plan

            planned = plan(db.schema, query)
            print("-- as Spark SQL:")
            print(engine_for(db).sql(planned.sql, planned.params))  # type: ignore[attr-defined]
            print()
    task = build_task(db, query, val_cutoff=args.val_cutoff, test_cutoff=args.test_cutoff)
    print(f"query: {task.query}")
    if db.engine != "duckdb":
        print(f"engine: {db.engine} ({db.engine_options.get('master', 'local[2]')})")
    target = f", recommends {task.target_table} ids, top {task.k}" if task.task_type == "ranking" else ""
    print(f"task: {task.task_type} for each {task.entity_table}.{task.entity_key}{target}")
    if any(len(paths) > 1 or agg.via is not None for agg, paths in resolved.routes.items()):
        # A table naming the entity in several foreign keys: say which ones count.
        for line in roles_lines(resolved):
            print(line)
    if task.extra.get("val_cutoff") is not None:
        print(
            f"val cutoff {task.extra['val_cutoff']}, test cutoff {task.extra['test_cutoff']}, step {task.extra['step']}"
        )
        if task.extra.get("cutoffs_reason"):
            print(f"cutoffs: {task.extra['cutoffs_reason']}")
    print(f"{'split':<6} {'timestamps':>10} {'rows':>9} {'entities':>9}  labels")
    for split in SPLITS:
        frame = task.split(split)
        print(
            f"{split:<6} {frame['timestamp'].nunique():>10} {len(frame):>9} {frame[task.entity_key].nunique():>9}  "
            f"{label_summary(frame['label'], task.task_type)}"
        )
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            task.split(split).to_parquet(out / f"{split}.parquet", index=False)
        print(f"wrote {', '.join(str(out / f'{s}.parquet') for s in SPLITS)}")
    return 0
