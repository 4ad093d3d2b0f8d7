"""``relgraph`` command line: one sub-command per module in ``relgraph.cli``.

Each sub-command module provides ``add_parser(subparsers)`` which registers its parser and
sets ``func`` (called with the parsed args, returns an exit code). Modules are imported
lazily so ``relgraph inspect`` never pays for torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from relgraph.errors import RelgraphError

#: sub-command name -> module in relgraph.cli
COMMANDS = {
    "inspect": "relgraph.cli.inspect",
    "query": "relgraph.cli.query",
    "train": "relgraph.cli.train",
    "predict": "relgraph.cli.predict",
    "evaluate": "relgraph.cli.evaluate",
    "explain": "relgraph.cli.explain",
    "serve": "relgraph.cli.serve",
    "ui": "relgraph.cli.ui",
    "demo": "relgraph.cli.demo",
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relgraph",
        description="Relational deep learning on your database: inspect it as a temporal graph, "
        "state a prediction task in one line of PQL, train a GNN or LightGBM, predict.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if a in COMMANDS), None)
    for name, module in COMMANDS.items():
        # Import only the command being run (all of them for --help) to keep start-up fast.
        if wanted is not None and name != wanted:
            sub.add_parser(name, help=f"see 'relgraph {name} --help'")
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RelgraphError as err:
        print(f"relgraph: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
