"""``relgraph ui SOURCE [--runs DIR] [--port 8000]``: the local web workspace (Schema, Query, Answers,
Runs) on SOURCE, read-only, on loopback by default. It prints a one-time sign-in link once; the
browser then holds the bearer token in a cookie (see :mod:`relgraph.serve.workspace`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="open the web workspace: schema graph, query editor, answers, training runs",
        description="Serve a local web workspace on SOURCE: the schema drawn as a graph, a PQL editor "
        "with live checks, ask's answers with evidence, and training runs in the background. Pages need "
        "the bearer token: open the one-time link printed at start, or sign in with the token.",
    )
    parser.add_argument("source", help="sqlite:///f.db, duckdb:///f.duckdb, postgresql://..., mysql://..., or a folder")
    parser.add_argument("--runs", type=Path, default=Path("runs"), metavar="DIR",
                        help="folder of run folders: listed, and new runs are written there (default ./runs)")
    add_server_arguments(parser)
    parser.add_argument("--schema", metavar="FILE", help="TOML/YAML schema file overriding what is inferred")
    parser.set_defaults(func=run)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """--host, --port and --token-file (``relgraph ui`` and ``relgraph serve``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--token-file", type=Path, help="file holding the bearer token (default ~/.config/relgraph/serve_token)")


def announce(host: str, port: int, app: Any, prefix: str = "") -> None:
    """Print the one-time sign-in link (the only time a secret is printed: it works once)."""
    code = app.app.state.links.new()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"relgraph: workspace on http://{shown}:{port}{prefix}/ ; open once to sign in:\n"
          f"  http://{shown}:{port}{prefix}/login?once={code}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from relgraph.serve import resolve_token
    from relgraph.serve.workspace import create_workspace

    token, generated = resolve_token(args.token_file)
    app = create_workspace(args.source, args.runs, token, schema=args.schema)
    if generated:
        print(f"relgraph: generated a bearer token (stored in {args.token_file or '~/.config/relgraph/serve_token'})",
              file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"relgraph: listening on {args.host}, beyond this machine: put TLS in front", file=sys.stderr)
    announce(args.host, args.port, app)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", workers=1)
    return 0
