"""``relgraph ask SOURCE "PQL" [--at T] [--ids 1,2,3 | --top N] [--json] [--explain]``.

The quickest way to a first answer: no training run, no run folder. The query is fitted on its own
history known at ``--at`` (default: where the target's table ends) and answered for the asked entities,
with a one-line backtest (the same procedure one label window earlier, against the trivial
baseline) and the context it used; see :mod:`relgraph.runs.ask`. Reads SOURCE only.
"""

from __future__ import annotations

import argparse
import json
import sys

#: Rows printed without --top or --ids (--json prints all).
SHOWN_ROWS = 20


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ask",
        help="answer a predictive query in seconds, with a backtest (no training run)",
        description="Fit QUERY on its own history known at --at (default: where the target's table ends) and "
        "predict the asked entities, with a backtest one label window earlier beside the trivial baseline.",
        epilog='example: relgraph ask sqlite:///shop.db "PREDICT COUNT(orders.*, 0, 30, days) = 0 '
        'FOR EACH customers.customer_id" --top 10',
    )
    parser.add_argument("source", help="the database (e.g. sqlite:///shop.db, a folder of CSV / Parquet files)")
    parser.add_argument("query", help="the predictive query (PQL), quoted")
    parser.add_argument("--at", help="prediction time (default: the latest row time of the table the target counts)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--ids", help="comma-separated entity keys to answer for (default: every entity the query selects)")
    which.add_argument("--top", type=int, metavar="N", help="only the N entities with the highest scores")
    parser.add_argument("--json", action="store_true", help="print predictions, backtest, context (and evidence) as JSON")
    parser.add_argument("--explain", action="store_true", help="add the top contributions by table, feature and row "
                        "(TreeSHAP) for the first answers")
    parser.add_argument("--context-rows", type=int, default=None, metavar="N",
                        help="labelled history rows the model is fitted on at most (default 5,000)")
    parser.add_argument("--no-backtest", action="store_true", help="skip the backtest (about half the time)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the context sample and LightGBM (default 0)")
    parser.add_argument("--schema", metavar="FILE", help="schema file (keys, times, types)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relgraph.runs.ask import ask

    ids = [part.strip() for part in args.ids.split(",") if part.strip()] if args.ids else None
    answer = ask(args.source, args.query, at=args.at, ids=ids, top=args.top, explain=args.explain,
                 context_rows=args.context_rows, with_backtest=not args.no_backtest, seed=args.seed,
                 schema=args.schema)
    if args.json:
        print(json.dumps(answer_json(answer), indent=1, default=str))
        return 0
    shown = answer if args.ids or args.top else answer.head(SHOWN_ROWS)
    print(shown.drop(columns=["timestamp"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if len(shown) < len(answer):
        print(f"({len(shown)} of {len(answer):,} shown, highest first; --top N or --json for more)")
    for exp in answer.attrs.get("evidence") or []:
        print()
        print("\n".join(exp["summary"]))
    print(answer_line(answer), file=sys.stderr)
    return 0


def answer_line(answer: object) -> str:
    """One line: the backtest against the trivial baseline, and the context used."""
    attrs = answer.attrs  # type: ignore[attr-defined]
    test = attrs.get("backtest")
    parts = [test["text"] if test else "no backtest (--no-backtest)", attrs["context"]["text"]]
    return f"relgraph: {attrs['entity']} at {attrs['at']}: " + "; ".join(parts) + f" ({attrs['seconds']:.1f} s)"


def answer_json(answer: object) -> dict:
    """The answer as JSON-ready values: predictions (records) and the attributes."""
    from relgraph.runs.explain.tabular import _json_value

    frame = answer  # type: ignore[assignment]
    records = [{k: _json_value(v) for k, v in r.items()} for r in frame.to_dict("records")]  # type: ignore[attr-defined]
    return {**frame.attrs, "predictions": records}  # type: ignore[attr-defined]
