"""``relgraph demo [--out DIR] [--seed S]``: generate the synthetic shop and run relgraph on it."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate a synthetic e-commerce database and run relgraph on it",
        description="Write DIR/demo.db, a deterministic synthetic shop (customers, products, orders, "
        "reviews, support tickets over two years), then show what relgraph makes of it.",
    )
    parser.add_argument("--out", default="demo_out", metavar="DIR", help="output folder (default: demo_out)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same database)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="size factor (1.0: ~3k customers, ~45k orders)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relgraph.demo import run_demo

    return run_demo(args.out, seed=args.seed, scale=args.scale)
