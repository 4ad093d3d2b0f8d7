"""Connector read times: the f1 data (``../shared/datasets/f1``) read from every kind of source.

The CSV folder and RelBench's ``rel-f1/db`` Parquet files are read as they are; the same tables
are copied into a temporary SQLite file, a DuckDB file, a scratch PostgreSQL schema and a scratch
MariaDB database (the servers are skipped when unreachable), and each is read with
``read_source``. Prints median wall seconds over ``--repeat`` reads (after one warm-up read),
rows, and the Stack Exchange dump's parse and cached times.

    .venv/bin/python benchmarks/connectors_read.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import duckdb
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from conftest import SHARED_DATASETS, mysql_scratch_database, postgres_scratch  # noqa: E402

from relgraph.connectors import read_source  # noqa: E402


def timed_reads(source: str, repeat: int) -> tuple[float, int]:
    """Median seconds of ``repeat`` reads after one warm-up, and the total row count."""
    data = read_source(source)
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        read_source(source)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), sum(t.num_rows for t in data.tables.values())


def write_sqlite(tables: dict[str, pa.Table], path: Path) -> None:
    con = sqlite3.connect(path)
    for name, table in tables.items():
        frame = table.to_pandas()
        for column in frame.columns:  # sqlite3 has no adapter for datetime.time values
            if pa.types.is_time(table.schema.field(column).type):
                frame[column] = frame[column].map(lambda v: None if v is None else v.isoformat())
        frame.to_sql(name, con, index=False)
    con.close()


def write_duckdb(tables: dict[str, pa.Table], path: Path) -> None:
    con = duckdb.connect(str(path))
    for name, table in tables.items():
        con.register("incoming", table)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
        con.unregister("incoming")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    f1 = SHARED_DATASETS / "f1"
    if not f1.is_dir():
        sys.exit(f"f1 data not found at {f1}")
    tables = read_source(str(f1)).tables

    def measure(label: str, source: str) -> None:
        seconds, n = timed_reads(source, args.repeat)
        print(f"{label:<34} {seconds:8.3f} s  {n:>7} rows", flush=True)

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        measure("CSV folder (pyarrow.csv)", str(f1))
        measure("RelBench Parquet (rel-f1/db)", str(SHARED_DATASETS / "rel-f1" / "db"))
        write_sqlite(tables, Path(tmp) / "f1.db")
        measure("SQLite (sqlite3, read-only)", f"sqlite:///{Path(tmp) / 'f1.db'}")
        write_duckdb(tables, Path(tmp) / "f1.duckdb")
        measure("DuckDB file (read_only)", f"duckdb:///{Path(tmp) / 'f1.duckdb'}")
        servers: list[tuple[str, Callable]] = [
            ("PostgreSQL (connectorx)", postgres_scratch),
            ("MariaDB (connectorx)", mysql_scratch_database),
        ]
        for label, scratch_factory in servers:
            try:
                scratch = stack.enter_context(scratch_factory())
            except Exception as err:  # the server is optional for this benchmark
                print(f"{label:<34} skipped: {str(err).splitlines()[0]}")
                continue
            scratch.load(tables)
            measure(label, scratch.url)
        stack_dump = SHARED_DATASETS / "stack-bicycles-meta"
        if stack_dump.is_dir():
            os.environ["RELGRAPH_CACHE_DIR"] = str(Path(tmp) / "cache")
            started = time.perf_counter()
            read_source(str(stack_dump))
            parse = time.perf_counter() - started
            print(f"{'Stack Exchange XML, first read':<34} {parse:8.3f} s  (parse + write cache)")
            measure("Stack Exchange XML, cached", str(stack_dump))


if __name__ == "__main__":
    main()
