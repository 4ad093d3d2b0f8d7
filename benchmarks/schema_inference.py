"""Schema inference time: f1 (read + infer, as ``relgraph inspect`` does) and a synthetic big table.

    .venv/bin/python benchmarks/schema_inference.py [--rows 2000000]

Prints seconds for reading f1, inferring its schema, and inferring the schema of a synthetic
users (rows / 20) + events (rows) database with no declared keys (PK, FK, time, stypes inferred).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

from relgraph.connectors import read_source
from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.schema import build_schema

T = TypeVar("T")
F1 = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "f1"


def synthetic(rows: int, seed: int = 0) -> SourceData:
    rng = np.random.default_rng(seed)
    n_users = max(rows // 20, 1)
    start = np.datetime64("2020-01-01", "s")
    users = pa.table(
        {
            "user_id": np.arange(n_users),
            "created_at": pa.array(start + rng.integers(0, 10**8, n_users)),
            "country": pa.array(rng.choice(["de", "fr", "us"], n_users)),
        }
    )
    events = pa.table(
        {
            "event_id": np.arange(rows),
            "user_id": rng.integers(0, n_users, rows),
            "at": pa.array(start + rng.integers(0, 10**8, rows)),
            "amount": rng.random(rows),
            "kind": pa.array(rng.choice(["a", "b", "c"], rows)),
            "note": pa.array(np.char.add("note ", (np.arange(rows) % 5000).astype(str))),
        }
    )
    return SourceData("synthetic", {"users": users, "events": events}, DeclaredKeys(), "synthetic")


def timed(label: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="events rows of the synthetic database")
    args = parser.parse_args()
    if F1.is_dir():
        data = timed("f1 read_source", lambda: read_source(str(F1)))
        schema = timed("f1 build_schema", lambda: build_schema(data))
        print(f"  f1: {len(schema.tables)} tables, {len(schema.edges())} foreign keys")
    data = synthetic(args.rows)
    schema = timed(f"synthetic ({args.rows:,} events) build_schema", lambda: build_schema(data))
    print(f"  synthetic: {[(c, fk.references_table) for c, fk in schema.edges()]}")


if __name__ == "__main__":
    main()
