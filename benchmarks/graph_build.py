"""Graph build benchmark: cold build (connect + schema + graph), cached load, peak memory.

    python benchmarks/graph_build.py [SOURCE] [--schema FILE] [--repeat N]

SOURCE defaults to ``../shared/datasets/f1`` (raw Ergast CSVs). The cache lives in a temporary
folder, so the first build is always cold. Peak memory: the process's maximum resident set
(``getrusage``) and the peak of Python/NumPy allocations during one graph build (``tracemalloc``,
which does not see Arrow's own buffers).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import relgraph  # noqa: E402
from relgraph.graph import build_graph  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default=str(REPO / ".." / "shared" / "datasets" / "f1"))
    parser.add_argument("--schema", default=None, help="schema file for connect()")
    parser.add_argument("--repeat", type=int, default=5, help="cached loads to time (median reported)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        db = relgraph.connect(args.source, schema=args.schema)
        db.row_times(db.schema.table_names[0])  # resolve row times inside the connect phase
        connected = time.perf_counter()
        graph = build_graph(db, cache_dir=cache)
        built = time.perf_counter()

        cached_graph, cached_full = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            build_graph(db, cache_dir=cache)
            cached_graph.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            build_graph(relgraph.connect(args.source, schema=args.schema), cache_dir=cache)
            cached_full.append(time.perf_counter() - t0)
        max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        tracemalloc.start()
        build_graph(db, cache_dir=None)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    nodes = sum(graph.num_nodes.values())
    edges = sum(e.shape[1] for e in graph.edge_index.values())
    rows = [
        ("source", args.source),
        ("node types / nodes", f"{len(graph.num_nodes)} / {nodes:,}"),
        ("edge types / edges", f"{len(graph.edge_index)} / {edges:,}"),
        ("cold: connect + schema + row times", f"{connected - started:.2f} s"),
        ("cold: build_graph (+ cache write)", f"{built - connected:.2f} s"),
        ("cold total", f"{built - started:.2f} s"),
        (f"cached build_graph (median of {args.repeat})", f"{statistics.median(cached_graph) * 1000:.0f} ms"),
        (
            f"connect + cached build_graph (median of {args.repeat})",
            f"{statistics.median(cached_full):.2f} s",
        ),
        ("peak RSS of the process", f"{max_rss_mib:.0f} MiB"),
        ("tracemalloc peak during one build", f"{traced_peak / 2**20:.0f} MiB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
