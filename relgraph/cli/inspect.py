"""``relgraph inspect SOURCE``: what relgraph understood of a database, table by table.

Text output (default) lists per table: rows, primary key, foreign keys (declared or inferred,
coverage, evidence), row time (own or inherited, evidence; why a table is static), and each
column's dtype and semantic type, then the warnings. ``--json`` prints::

    {"source": str, "tables": [{"name", "rows", "primary_key", "primary_key_inferred",
      "primary_key_evidence", "time_column",            # own time column, null if inherited/static
      "time": {"column", "time_of_day_column", "inherited_via", "parent_table", "parts",
               "unknown", "inferred", "evidence"} | null,  # null: static table; unknown: rows left out
      "time_evidence",                                  # why static (when time is null)
      "columns": [{"name", "dtype", "stype", "evidence"}],
      "foreign_keys": [{"column", "references_table", "references_column", "inferred",
                        "coverage", "dangling", "evidence"}],
      "composite_key": [str] | null,                    # multi-column primary key (primary_key null)
      "composite_foreign_keys": [{"columns", "references_table", "references_columns", "inferred",
                                  "coverage", "dangling", "evidence"}]}],
     "warnings": [str],
     "rejected_keys": [{"table", "columns", "references", "coverage", "reason"}]}   # --verbose only

``--verbose`` adds the key and reference candidates inference turned down, with why.
``--for-each TABLE.COLUMN`` shows the schema a query ``FOR EACH TABLE.COLUMN`` trains on: the
column's distinct values made an entity (a warning line says from how many values), or why not.
Made tables (inferred or asked for) list their attributes: columns of a flat export that take one
value per entity, with the evidence (``schema/attributes.py``).

``--schema FILE`` applies a TOML/YAML schema file; ``--write-schema FILE`` writes the resulting
schema in that format for editing.
"""

from __future__ import annotations

import argparse
import json
import sys

from relgraph.schema.report import schema_json, schema_text


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show the tables, keys, times and column types relgraph finds in a database",
        description="Read SOURCE and print, per table, its rows, primary key, foreign keys (with "
        "coverage and evidence), row time (own or inherited) and column semantic types.",
    )
    parser.add_argument(
        "source", help="sqlite:///f.db, duckdb:///f.duckdb, postgresql://..., mysql://..., or a folder"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--verbose", action="store_true", help="also list the key candidates turned down, and why"
    )
    parser.add_argument("--schema", metavar="FILE", help="TOML/YAML schema file overriding what is inferred")
    parser.add_argument(
        "--for-each",
        metavar="TABLE.COLUMN",
        action="append",
        default=[],
        help="make the distinct values of TABLE.COLUMN an entity, as FOR EACH TABLE.COLUMN in a query does "
        "(repeatable); a column that cannot be one is refused with why",
    )
    parser.add_argument(
        "--write-schema", metavar="FILE", help="write the schema to FILE (.toml/.yaml) for editing"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relgraph.database import connect
    from relgraph.errors import QueryError
    from relgraph.schema.io import write_schema

    db = connect(args.source, schema=args.schema)
    for entity in args.for_each:  # the schema a query FOR EACH that column trains on
        table, _, column = entity.rpartition(".")
        if not table:
            raise QueryError(f"--for-each {entity!r}: write TABLE.COLUMN")
        db = db.with_entity(table, column)
    if args.write_schema:
        write_schema(db.schema, args.write_schema)
        print(f"relgraph: wrote schema to {args.write_schema}", file=sys.stderr)
    if args.json:
        document = schema_json(db.schema, db.source, verbose=args.verbose)
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(schema_text(db.schema, db.source, verbose=args.verbose))
    return 0

