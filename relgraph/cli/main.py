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
import traceback
from pathlib import Path

from relgraph.errors import RelgraphError

#: sub-command name -> module in relgraph.cli
COMMANDS = {
    "ask": "relgraph.cli.ask",
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
    # dest "debug": a sub-command's own --verbose (inspect's) must not reset it.
    parser.add_argument(
        "-v", "--verbose", action="store_true", dest="debug", help="debug logging, and the traceback of an internal error"
    )
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
        level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RelgraphError as err:
        print(f"relgraph: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("relgraph: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, not bad input: one line for the user, the traceback under -v
        if args.debug:
            raise
        print(f"relgraph: error: {internal_error(err)}", file=sys.stderr)
        return 1


def internal_error(err: BaseException) -> str:
    """One line for an unexpected exception: what, where in relgraph, and that it is ours to fix."""
    where = ""
    for frame in traceback.extract_tb(err.__traceback__):
        parts = Path(frame.filename).parts
        if "relgraph" in parts:  # the innermost frame in relgraph's own code
            start = len(parts) - 1 - parts[::-1].index("relgraph")
            where = f" at {'/'.join(parts[start:])}:{frame.lineno}"
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return (
        f"internal error{where}: {type(err).__name__}{': ' + message if message else ''}; "
        "please report it with the command that caused it (relgraph -v COMMAND ... prints the traceback)"
    )


if __name__ == "__main__":
    sys.exit(main())
