"""Temporal sampler benchmark: median milliseconds per batch and memory, printed as a table.

Shape A (the reference): users 50k (static), items 50k (creation times), events 250k (times over two
years), each event -> its user and its item plus reverse edges = 1M edges; seeds are random users
with seed times in the second year. Also: deeper fanouts, bigger batches, the uniform strategy,
growth from 1M to 10M edges (all tables scaled, so degrees stay the same), and the f1 graph from
``../shared/datasets/f1`` (drivers, fanouts [128, 64], batch 512) when that dataset is present.

    .venv/bin/python benchmarks/sampler.py [--batches 40] [--skip-scaling] [--skip-f1] [--train-share]

``--train-share`` fits the GNN (default config, 2 epochs) on rel-f1's driver-dnf task tables and
prints the share of training-epoch time spent in the sampler.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np

from relgraph.graph.temporal_graph import TemporalGraph
from relgraph.sampling import TemporalSampler

START = 1_577_836_800  # 2020-01-01
TWO_YEARS = 2 * 365 * 86_400
F1_PATH = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "f1"
REL_F1_PATH = F1_PATH.parent / "rel-f1"


def shape_a(scale: int = 1, seed: int = 0) -> TemporalGraph:
    """Shape A with every table ``scale`` times larger: 1M x ``scale`` edges, degrees unchanged."""
    rng = np.random.default_rng(seed)
    users, items, events = 50_000 * scale, 50_000 * scale, 250_000 * scale
    item_time = rng.integers(START, START + TWO_YEARS, items)
    event_user = rng.integers(0, users, events)
    event_item = rng.integers(0, items, events)
    # an event cannot precede the item it is about
    event_time = np.maximum(rng.integers(START, START + TWO_YEARS, events), item_time[event_item])
    event = np.arange(events)
    return TemporalGraph(
        num_nodes={"users": users, "items": items, "events": events},
        node_time={"users": None, "items": item_time, "events": event_time},
        edge_index={
            ("events", "user_id", "users"): np.stack([event, event_user]),
            ("users", "rev_user_id", "events"): np.stack([event_user, event]),
            ("events", "item_id", "items"): np.stack([event, event_item]),
            ("items", "rev_item_id", "events"): np.stack([event_item, event]),
        },
    )


def measure(
    sampler: TemporalSampler,
    seed_type: str,
    candidates: np.ndarray,
    time_range: tuple[int, int],
    batch_size: int,
    batches: int,
) -> dict[str, float]:
    """Wall-clock median / p90 and CPU-time median ms per batch over ``batches`` fresh random batches.

    CPU time (this process only) is the figure to compare on a shared machine: wall time of a batch
    longer than a scheduler slice also counts other processes' turns.
    """
    rng = np.random.default_rng(1)
    inputs = [
        (rng.choice(candidates, batch_size), rng.integers(*time_range, batch_size))
        for _ in range(batches + 3)
    ]
    timings, cpu_timings, nodes = [], [], []
    for i, (seeds, times) in enumerate(inputs):
        begin, cpu_begin = time.perf_counter(), time.process_time()
        batch = sampler.sample(seed_type, seeds, times, i)
        if i >= 3:
            timings.append(time.perf_counter() - begin)
            cpu_timings.append(time.process_time() - cpu_begin)
            nodes.append(sum(batch[nt].num_nodes for nt in batch.node_types))
    tracemalloc.start()
    sampler.sample(seed_type, *inputs[0], 0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ms = np.array(timings) * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
        "cpu_ms": float(np.median(cpu_timings) * 1e3),
        "nodes": float(np.mean(nodes)),
        "batch_peak_mb": peak / 2**20,
    }


def build(graph: TemporalGraph, fanouts: list[int], strategy: str) -> tuple[TemporalSampler, float, float]:
    """Sampler plus its construction seconds and the MiB its adjacency arrays hold."""
    begin = time.perf_counter()
    sampler = TemporalSampler(graph, fanouts, strategy=strategy)  # type: ignore[arg-type]
    seconds = time.perf_counter() - begin
    held = sum(
        a.nbytes
        for adj in sampler._adjacency.values()
        for a in (adj.indptr, adj.neighbor, adj.neighbor_time)
        if a is not None
    )
    return sampler, seconds, held / 2**20


COLUMNS = ["case", "edges", "median ms", "p90 ms", "cpu ms", "nodes/batch", "batch MiB", "init s", "adj MiB"]
WIDTHS = [38, 6, 9, 7, 7, 11, 9, 6, 7]


def table_line(cells: list[str]) -> str:
    return (
        "| "
        + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, WIDTHS)))
        + " |"
    )


def row(name: str, edges: int, result: dict[str, float], init_s: float, adjacency_mb: float) -> str:
    return table_line(
        [
            name,
            f"{edges / 1e6:.1f}M",
            f"{result['median_ms']:.2f}",
            f"{result['p90_ms']:.2f}",
            f"{result['cpu_ms']:.2f}",
            f"{result['nodes']:.0f}",
            f"{result['batch_peak_mb']:.1f}",
            f"{init_s:.2f}",
            f"{adjacency_mb:.1f}",
        ]
    )


def print_train_share() -> None:
    """Fit the GNN on rel-f1 driver-dnf for 2 epochs; print seconds sampling / seconds training."""
    tasks = REL_F1_PATH / "tasks" / "driver-dnf"
    if not tasks.exists():
        print(f"train share: skipped, {tasks} is absent")
        return
    import relgraph
    from relgraph.gnn.predictor import GNNConfig, GNNPredictor
    from relgraph.runs.tasks import TaskSource, load_task_tables

    db = relgraph.connect(str(REL_F1_PATH))
    task = load_task_tables(db, TaskSource(task_tables=str(tasks)))
    config = GNNConfig(epochs=2)
    model = GNNPredictor(config, quiet=True).fit(db, task)
    timing = model.timing_
    print(
        f"train share: rel-f1 driver-dnf, GNN fanouts {config.fanouts} batch {config.batch_size}, "
        f"{len(task.train)} train rows, 2 epochs: sampling {timing['sample_seconds']:.2f} s of "
        f"{timing['train_seconds']:.2f} s epoch time = {100 * timing['sample_share']:.1f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-f1", action="store_true")
    parser.add_argument("--train-share", action="store_true", help="also fit the GNN on rel-f1 driver-dnf")
    args = parser.parse_args()

    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; median/p90 wall ms, median CPU ms"
    )
    print(table_line(COLUMNS))
    print("|" + "|".join("-" * (w + 2) for w in WIDTHS) + "|")
    seed_window = (START + TWO_YEARS // 2, START + TWO_YEARS)
    graph = shape_a()
    edges = sum(e.shape[1] for e in graph.edge_index.values())
    users = np.arange(graph.num_nodes["users"])
    for strategy, fanouts, batch_size in [
        ("recent", [10, 10], 1024),
        ("recent", [10, 10, 10], 1024),
        ("recent", [10, 10], 4096),
        ("uniform", [10, 10], 1024),
        ("uniform", [10, 10, 10], 1024),
        ("uniform", [10, 10], 4096),
    ]:
        sampler, init_s, adjacency_mb = build(graph, fanouts, strategy)
        result = measure(sampler, "users", users, seed_window, batch_size, args.batches)
        print(row(f"A {strategy} {fanouts} b{batch_size}", edges, result, init_s, adjacency_mb), flush=True)

    if not args.skip_scaling:
        for scale in (3, 10):
            big = shape_a(scale)
            edges = sum(e.shape[1] for e in big.edge_index.values())
            sampler, init_s, adjacency_mb = build(big, [10, 10], "recent")
            result = measure(
                sampler, "users", np.arange(big.num_nodes["users"]), seed_window, 1024, args.batches
            )
            print(row(f"A x{scale} recent [10, 10] b1024", edges, result, init_s, adjacency_mb), flush=True)
            del big, sampler

    if args.train_share:
        print_train_share()
    if args.skip_f1:
        return
    if not F1_PATH.exists():
        print(f"f1: skipped, {F1_PATH} is absent")
        return
    import relgraph

    f1 = relgraph.build_graph(relgraph.connect(str(F1_PATH)))
    edges = sum(e.shape[1] for e in f1.edge_index.values())
    race_time = f1.node_time["races"]
    known = race_time[race_time != np.iinfo(np.int64).max]
    window = (int(np.percentile(known, 50)), int(known.max()) + 1)
    for strategy in ("uniform", "recent"):
        sampler, init_s, adjacency_mb = build(f1, [128, 64], strategy)
        result = measure(sampler, "drivers", np.arange(f1.num_nodes["drivers"]), window, 512, args.batches)
        print(row(f"f1 drivers {strategy} [128, 64] b512", edges, result, init_s, adjacency_mb), flush=True)


if __name__ == "__main__":
    main()
