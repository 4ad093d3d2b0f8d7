"""Schema inference time: f1 and nycflights13 (read + infer, as ``relgraph inspect`` does), a
synthetic big table, and how key inference grows with rows.

    .venv/bin/python benchmarks/schema_inference.py [--rows 2000000] [--sweep 1000000 2000000 5000000 10000000]

Prints seconds for reading f1 / nycflights13 and inferring their schemas, and for inferring the
schema of a synthetic users (rows / 20) + events (rows) database with no declared keys (PK, FK,
time, stypes inferred). The sweep times key inference alone (``infer_keys``: keys by name, keys by
references, references by name and by role, composite keys) on a database where every kind
occurs: events.sender_id -> users (a role), events.shop (a string role into shops.shop_code, a
key nobody names), events (shop_code, day) -> daily (a composite key); seconds per million rows
staying flat means linear growth.
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
from relgraph.schema.io import SchemaOverrides
from relgraph.schema.keys import infer_keys

T = TypeVar("T")
DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
F1 = DATASETS / "f1"
NYCFLIGHTS13 = DATASETS / "nycflights13"


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


def synthetic_keys(rows: int, seed: int = 0) -> SourceData:
    """Users, shops, per-shop daily figures and events: role, string and composite references."""
    rng = np.random.default_rng(seed)
    n_users = max(rows // 20, 2)
    codes = np.array([f"S{i:03d}" for i in range(100)])
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2025-01-01"))
    shops = pa.table({"shop_code": codes, "region": rng.choice(["n", "s", "e", "w"], len(codes))})
    daily = pa.table(
        {
            "shop_code": np.repeat(codes, len(days)),
            "day": pa.array(np.tile(days, len(codes))),
            "footfall": rng.integers(0, 500, len(codes) * len(days)),
        }
    )
    users = pa.table({"user_id": np.arange(n_users), "country": rng.choice(["de", "fr", "us"], n_users)})
    shop_of_event = rng.integers(0, len(codes), rows)
    events = pa.table(
        {
            "event_id": np.arange(rows),
            "user_id": rng.integers(0, n_users, rows),
            "sender_id": rng.integers(0, n_users, rows),
            "shop_code": pa.array(codes[shop_of_event]),
            "shop": pa.array(codes[rng.integers(0, len(codes), rows)]),
            "day": pa.array(days[rng.integers(0, len(days), rows)]),
            "quantity": rng.integers(1, 10, rows),
            "amount": rng.random(rows),
        }
    )
    tables = {"users": users, "shops": shops, "daily": daily, "events": events}
    return SourceData("synthetic-keys", tables, DeclaredKeys(), "synthetic-keys")


def key_sweep(sizes: list[int]) -> None:
    """Key inference seconds per size, and per million rows (flat: linear)."""
    print("\n| events rows | infer_keys s | s per 1M rows | references found |")
    print("|---:|---:|---:|---|")
    for rows in sizes:
        data = synthetic_keys(rows)
        start = time.perf_counter()
        keys = infer_keys(data, SchemaOverrides(path=""))
        seconds = time.perf_counter() - start
        found = sorted(
            [f"{child}.{fk.column}" for child, fks in keys.foreign.items() for fk in fks]
            + [
                f"{child}.({'+'.join(fk.columns)})"
                for child, fks in keys.composite_foreign.items()
                for fk in fks
            ]
        )
        print(f"| {rows:,} | {seconds:.2f} | {seconds / rows * 1e6:.3f} | {', '.join(found)} |")
        del data, keys


def timed(label: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="events rows of the synthetic database")
    parser.add_argument(
        "--sweep",
        type=int,
        nargs="*",
        default=[1_000_000, 2_000_000, 5_000_000, 10_000_000],
        help="events rows of the key-inference sweep (none: skip it)",
    )
    args = parser.parse_args()
    for name, path in (("f1", F1), ("nycflights13", NYCFLIGHTS13)):
        if path.is_dir():
            data = timed(f"{name} read_source", lambda path=path: read_source(str(path)))
            schema = timed(f"{name} build_schema", lambda data=data: build_schema(data))
            references = len(schema.edges()) + len(schema.composite_edges())
            print(f"  {name}: {len(schema.tables)} tables, {references} foreign keys")
    data = synthetic(args.rows)
    schema = timed(f"synthetic ({args.rows:,} events) build_schema", lambda: build_schema(data))
    print(f"  synthetic: {[(c, fk.references_table) for c, fk in schema.edges()]}")
    if args.sweep:
        key_sweep(args.sweep)


if __name__ == "__main__":
    main()
