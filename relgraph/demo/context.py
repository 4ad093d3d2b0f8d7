"""What the demo's steps share (its own module: the steps live in several modules)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from relgraph.database import Database
from relgraph.graph import TemporalGraph


@dataclass
class DemoContext:
    """What the demo steps share: where things are, the database and its graph."""

    out_dir: Path
    db_path: Path
    seed: int
    db: Database
    graph: TemporalGraph

    @property
    def source(self) -> str:
        return f"sqlite:///{self.db_path}"
