"""``relgraph serve SOURCE [--model DIR] [--host 127.0.0.1] [--port 8000] [--token-file FILE] [--ui]``.

Answers ``POST /ask`` (any predictive query, :mod:`relgraph.runs.ask`) on SOURCE; with ``--model``,
also /predict, /explain, /model and /report of that run. Loads the run once, opens SOURCE read-only (re-opened when it changes: rows added since training
count at once), warms the model up, and answers HTTP on loopback by default (see
:mod:`relgraph.serve.app` for the endpoints). The bearer token comes from ``$RELGRAPH_TOKEN``,
else ``--token-file`` (default ``~/.config/relgraph/serve_token``), generated and printed once
when absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relgraph.cli.ui import add_server_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve predictive queries (ask) and a trained model (predict, explain) over HTTP",
        description="Answer POST /ask (any predictive query) on the live database SOURCE and, with --model DIR, "
        "POST /predict and /explain for that run; every endpoint but /health needs the bearer token.",
    )
    parser.add_argument("source", help="the database to read (same schema as at training)")
    parser.add_argument("--model", type=Path, help="run folder written by `relgraph train` (default: none, /ask only)")
    add_server_arguments(parser)
    parser.add_argument("--schema", metavar="FILE", help="schema file (default: the run's, if it used one)")
    parser.add_argument("--refresh", type=float, default=30.0, metavar="S",
                        help="database servers: re-read every S seconds (files: on every change)")
    parser.add_argument("--ask-timeout", type=float, default=60.0, metavar="S",
                        help="seconds an /ask answer may take before a 504 (default 60)")
    parser.add_argument("--ui", action="store_true",
                        help="also serve the web workspace (relgraph ui) under /ui, with the same token")
    parser.add_argument("--runs", type=Path, metavar="DIR",
                        help="with --ui: folder of run folders (default: the folder holding --model, else ./runs)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from relgraph.runs.api import load
    from relgraph.serve import TOKEN_ENV, create_app, resolve_token

    token, generated = resolve_token(args.token_file)
    app = create_app(load(args.model) if args.model else None, args.source, token, schema=args.schema,
                     refresh_s=args.refresh, ask_time_limit_s=args.ask_timeout)
    loaded = app.app.state.service.run  # type: ignore[attr-defined]
    warm_up(app)
    workspace = None
    if args.ui:
        from relgraph.serve.workspace import create_workspace
        from relgraph.serve.workspace.auth import mount_workspace

        runs = args.runs or (Path(args.model).resolve().parent if args.model else Path("runs"))
        workspace = create_workspace(args.source, runs, token, schema=args.schema)
        app = mount_workspace(app, workspace)
    if generated:
        print(f"relgraph: generated a bearer token (stored in {args.token_file or '~/.config/relgraph/serve_token'}):\n"
              f"  {token}", file=sys.stderr)
    elif not args.token_file:
        print(f"relgraph: bearer token from ${TOKEN_ENV} or ~/.config/relgraph/serve_token", file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"relgraph: listening on {args.host}, beyond this machine: put TLS in front", file=sys.stderr)
    what = f"{loaded.run_dir} ({loaded.kind}, {loaded.task_type}) and /ask" if loaded is not None else f"/ask on {args.source}"
    print(f"relgraph: serving {what} on http://{args.host}:{args.port} (docs: /docs)", file=sys.stderr, flush=True)
    if workspace is not None:
        from relgraph.cli.ui import announce

        announce(args.host, args.port, workspace, "/ui")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", workers=1)
    return 0


def warm_up(app: object) -> None:
    """Open the database and predict one entity, so the first request finds graphs and features built."""
    from relgraph.errors import RelgraphError

    service = app.app.state.service  # type: ignore[attr-defined]
    db = service.live.get()
    if service.run is None:
        return  # /ask only: the database is open; each query builds its own features
    keys = db.tables[service.run.entity_table].column(service.run.entity_key)
    if len(keys):
        try:
            service.predict([keys[len(keys) - 1].as_py()], None)  # the newest row exists at the latest time
        except RelgraphError:
            pass  # warming up is an optimisation: requests report their own errors
