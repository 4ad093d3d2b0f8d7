"""``relgraph demo``: generate the synthetic shop, then run relgraph's main job on it.

The demo is a sequence of steps over one :class:`DemoContext`; each step prints its part of
the report: the ``inspect`` report, the graph summary, then a churn model trained, compared with
the trivial baseline and used to predict at the latest time (:mod:`relgraph.demo.train_step`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from relgraph.database import connect
from relgraph.demo.context import DemoContext
from relgraph.demo.explain_step import explain_step
from relgraph.demo.generate import make_demo_database
from relgraph.demo.train_step import train_step
from relgraph.graph import build_graph
from relgraph.schema.report import schema_text


def prepare_demo(out_dir: str | Path = "demo_out", seed: int = 0, scale: float = 1.0) -> DemoContext:
    """Generate ``out_dir/demo.db``, connect, and build the (cached) graph."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    db_path = make_demo_database(out / "demo.db", seed=seed, scale=scale)
    db = connect(f"sqlite:///{db_path}")
    graph = build_graph(db, cache_dir=out / ".relgraph_cache")
    return DemoContext(out, db_path, seed, db, graph)


def inspect_step(ctx: DemoContext) -> None:
    """Print what relgraph understood of the database (the ``relgraph inspect`` report)."""
    print(schema_text(ctx.db.schema, ctx.db.source))


def graph_step(ctx: DemoContext) -> None:
    """Print the temporal graph's node and edge counts."""
    print()
    print(ctx.graph.summary())


#: The demo's steps, in order.
STEPS: list[Callable[[DemoContext], None]] = [inspect_step, graph_step, train_step, explain_step]


def run_demo(out_dir: str | Path = "demo_out", seed: int = 0, scale: float = 1.0) -> int:
    """Generate the demo database in ``out_dir`` and run every step of :data:`STEPS`; returns 0."""
    ctx = prepare_demo(out_dir, seed=seed, scale=scale)
    print(f"relgraph demo: wrote {ctx.db_path} (seed {seed})\n")
    for step in STEPS:
        step(ctx)
    print(f"\nNext: relgraph query {ctx.source} \"<PQL>\" --explain, or relgraph train {ctx.source} --query \"<PQL>\" --out DIR")
    print(f"Explore it in the browser (schema graph, query editor, answers, runs):\n  relgraph ui {ctx.source} --runs {ctx.out_dir}")
    return 0
