"""Benchmark the PQL planner: wall time and peak memory of training-table builds.

1. rel-f1: driver-dnf, driver-top3 and driver-position, all three splits (RelBench cutoffs),
   from ``../shared/datasets/rel-f1`` (target: < 2 s in total).
2. A generated event table (default 10M rows, 100k entities, 50 timestamps): a binary
   churn-style query with a past-only entity filter, a regression query and a plain count
   over every (entity, timestamp) pair (target: < 60 s and < 4 GiB).

    .venv/bin/python benchmarks/query.py [--events 10000000] [--entities 100000] [--timestamps 50]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

import relgraph
from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import Database
from relgraph.query import build_task, make_training_table
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo

REL_F1 = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "rel-f1"
GENERATED_QUERIES = {
    "binary, past filter": "PREDICT COUNT(events.*, 0, 30, days) = 0 FOR EACH users.user_id "
    "WHERE COUNT(events.*, -90, 0, days) > 0",
    "regression, assuming": "PREDICT AVG(events.value, 0, 30, days) FOR EACH users.user_id "
    "ASSUMING COUNT(events.*, 0, 30, days) > 0",
    "count, every pair": "PREDICT COUNT(events.* WHERE events.value > 0.5, 0, 30, days) FOR EACH users.user_id",
}


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all DuckDB threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def bench_rel_f1() -> None:
    if not (REL_F1 / "db").is_dir():
        print(f"rel-f1 not found at {REL_F1}; skipped")
        return
    db = relgraph.connect(REL_F1 / "db")
    db.duckdb()  # views are built once per database; not part of the query cost
    total, total_cpu, rows = 0.0, 0.0, 0
    for task in ("driver-dnf", "driver-top3", "driver-position"):
        text = (REL_F1 / "tasks" / task / "query.pql").read_text()
        start, start_cpu = time.perf_counter(), cpu_seconds()
        tables = build_task(db, text, val_cutoff="2005-01-01", test_cutoff="2010-01-01")
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
        total, total_cpu = total + elapsed, total_cpu + cpu
        sizes = [len(tables.split(s)) for s in ("train", "val", "test")]
        rows += sum(sizes)
        print(f"rel-f1 {task:<16} wall {elapsed:6.3f} s  cpu {cpu:6.3f} s  rows train/val/test {sizes}")
    print(
        f"rel-f1 three tasks, all splits: wall {total:.3f} s, cpu {total_cpu:.3f} s, {rows} rows (target < 2 s)"
    )


def generated_database(n_events: int, n_entities: int, span_days: int, seed: int = 0) -> Database:
    """``users`` (static, ``user_id``) and ``events`` (``event_id``, ``user_id``, ``value``, ``at``)."""
    rng = np.random.default_rng(seed)
    origin = np.datetime64("2020-01-01T00:00:00", "s")
    users = pa.table({"user_id": np.arange(n_entities, dtype=np.int64)})
    # Skewed activity: a few users produce most events, as in real logs.
    user_of_event = np.minimum((rng.pareto(1.5, n_events) * n_entities / 20).astype(np.int64), n_entities - 1)
    seconds = rng.integers(0, span_days * 86400, n_events)
    events = pa.table(
        {
            "event_id": np.arange(n_events, dtype=np.int64),
            "user_id": user_of_event,
            "value": rng.random(n_events),
            "at": pa.array(
                (origin + seconds.astype("timedelta64[s]")).astype("datetime64[ns]"), pa.timestamp("ns")
            ),
        }
    )
    schema = Schema(
        {
            "users": TableSchema(
                "users", n_entities, [Column("user_id", "int64", SType.KEY)], primary_key="user_id"
            ),
            "events": TableSchema(
                "events",
                n_events,
                [
                    Column("event_id", "int64", SType.KEY),
                    Column("user_id", "int64", SType.KEY),
                    Column("value", "double", SType.NUMERICAL),
                    Column("at", "timestamp[ns]", SType.TIMESTAMP),
                ],
                primary_key="event_id",
                foreign_keys=[ForeignKey("user_id", "users", "user_id")],
                time=TimeInfo("at"),
            ),
        }
    )
    declared = DeclaredKeys(
        {"users": "user_id", "events": "event_id"},
        {"events": [("user_id", "users", "user_id")]},
        {"events": "at"},
    )
    return Database(
        SourceData("generated", {"users": users, "events": events}, declared, "generated"), schema
    )


def bench_generated(n_events: int, n_entities: int, n_timestamps: int) -> None:
    step_days = 30
    span_days = step_days * (n_timestamps + 4)
    start = time.perf_counter()
    db = generated_database(n_events, n_entities, span_days)
    db.duckdb()
    print(f"generated {n_events:,} events, {n_entities:,} entities in {time.perf_counter() - start:.1f} s")
    timestamps = (
        pd.Timestamp("2020-01-01")
        + pd.Timedelta(days=90)
        + pd.to_timedelta(np.arange(n_timestamps) * step_days, unit="D")
    )
    total, total_cpu = 0.0, 0.0
    for name, text in GENERATED_QUERIES.items():
        start, start_cpu = time.perf_counter(), cpu_seconds()
        table = make_training_table(db, text, timestamps)
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
        total, total_cpu = total + elapsed, total_cpu + cpu
        print(
            f"generated {name:<22} wall {elapsed:6.2f} s  cpu {cpu:6.2f} s  {len(table):>10,} rows  "
            f"peak RSS {peak_rss_gib():.2f} GiB"
        )
    print(
        f"generated, {n_timestamps} timestamps, three queries: wall {total:.1f} s, cpu {total_cpu:.1f} s in total "
        f"(target < 60 s per table), peak RSS {peak_rss_gib():.2f} GiB (target < 4 GiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--timestamps", type=int, default=50)
    parser.add_argument("--skip-generated", action="store_true")
    args = parser.parse_args()
    bench_rel_f1()
    if not args.skip_generated:
        bench_generated(args.events, args.entities, args.timestamps)


if __name__ == "__main__":
    main()
