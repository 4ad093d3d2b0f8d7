"""Runs trained once per session on a tiny demo shop, shared by tests/explain and tests/serve."""

from __future__ import annotations

from pathlib import Path

from relgraph.cli.main import main
from relgraph.demo.generate import make_demo_database

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
RANK = ("PREDICT LIST_DISTINCT(order_items.product_id, 0, 30, days) RANK TOP 3 FOR EACH customers.customer_id "
        "WHERE COUNT(orders.*, -90, 0, days) > 0")
FAST = ["--epochs", "2", "--hidden", "16", "--fanouts", "4,2", "--threads", "1", "--quiet"]


def demo_db(folder: Path) -> Path:
    return make_demo_database(folder / "demo.db", seed=0, scale=0.05)


def train(db_path: Path, out: Path, query: str, model: str) -> Path:
    """``relgraph train`` into ``out`` (blend: the GNN, LightGBM and their blend, all three kept on disk)."""
    assert main(["train", f"sqlite:///{db_path}", "--query", query, "--model", model, "--out", str(out), *FAST]) == 0
    return out
