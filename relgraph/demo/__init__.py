"""The embedded demo: a deterministic synthetic e-commerce database and the ``relgraph demo`` run."""

from __future__ import annotations

from relgraph.demo.context import DemoContext
from relgraph.demo.generate import make_demo_database
from relgraph.demo.run import prepare_demo, run_demo

__all__ = ["DemoContext", "make_demo_database", "prepare_demo", "run_demo"]
