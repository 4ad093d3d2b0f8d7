"""The scale generator: deterministic, chunked, the demo's tables and keys (the churn query runs)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

import relgraph
from relgraph.demo.scale import make_scale_database, parse_rows, table_sizes
from relgraph.demo.train_step import CHURN_QUERY
from relgraph.query import build_task


def test_parse_rows() -> None:
    assert parse_rows("1M") == 1_000_000
    assert parse_rows("50m") == 50_000_000
    assert parse_rows("250k") == 250_000
    assert parse_rows("12_000") == 12_000


def test_scale_database_is_deterministic_and_runs_the_churn_query(tmp_path: Path) -> None:
    a = make_scale_database(tmp_path / "a", 30_000, seed=1, chunk=4_000)
    b = make_scale_database(tmp_path / "b", 30_000, seed=1, chunk=4_000)
    sizes = table_sizes(30_000)
    for name in ("orders", "order_items", "reviews", "support_tickets"):
        assert pq.read_table(a / f"{name}.parquet").equals(pq.read_table(b / f"{name}.parquet"))
        groups = pq.ParquetFile(a / f"{name}.parquet").metadata.num_row_groups
        assert groups == -(-sizes[name] // 4_000)  # written chunk by chunk
    assert sum(sizes[n] for n in ("orders", "order_items", "reviews", "support_tickets")) == 30_000
    db = relgraph.connect(a)
    assert {t.time.column for t in db.schema.tables.values() if t.time is not None} >= {"ordered_at", "opened_at"}
    task = build_task(db, CHURN_QUERY)
    assert len(task.train) > 100
    assert 0.05 < task.train["label"].mean() < 0.95
