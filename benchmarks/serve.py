"""``relgraph serve`` latency on the demo shop: a warm server on loopback, per model kind.

For each model kind (LightGBM, GNN by default): train a churn run on the demo database (or reuse
``--runs DIR``), start ``relgraph serve`` in its own process, wait for /health, then measure

- single-entity ``POST /predict`` latency (p50 / p99 over ``--requests`` requests, each a
  different customer, at the latest time: no request is answered from a cache of an earlier one);
- ``--clients`` concurrent clients x ``--per-client`` requests each: errors, wall time, server
  memory (RSS) before and after;
- one batch of ``--batch`` ids.

    .venv/bin/python benchmarks/serve.py --scale 1.0 --kinds lightgbm,gnn
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from relgraph.cli.main import main as cli  # noqa: E402
from relgraph.demo.generate import make_demo_database  # noqa: E402

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
TOKEN = "bench-token-" + "z" * 24


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(db: Path, run: Path, port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, RELGRAPH_TOKEN=TOKEN, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "relgraph.cli.main", "serve", f"sqlite:///{db}", "--model", str(run),
                             "--port", str(port)], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=str(log.parent))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not start")


def bench(url: str, pid: int, ids: list[int], args: argparse.Namespace) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    out: dict[str, float] = {}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
        for i in ids[:5]:  # a few warm-up requests (first-use code paths)
            c.post("/predict", json={"ids": [i]}).raise_for_status()
        lat = []
        for i in range(args.requests):
            started = time.perf_counter()
            c.post("/predict", json={"ids": [ids[(5 + i) % len(ids)]]}).raise_for_status()
            lat.append(time.perf_counter() - started)
        out["p50_ms"], out["p99_ms"] = (float(np.percentile(lat, q) * 1000) for q in (50, 99))
        batch = (ids * (args.batch // len(ids) + 1))[: args.batch]
        started = time.perf_counter()
        r = c.post("/predict", json={"ids": batch})
        r.raise_for_status()
        out["batch_s"] = time.perf_counter() - started
    out["rss_before_mib"] = rss_mib(pid)

    def client(k: int) -> int:
        errors = 0
        with httpx.Client(base_url=url, headers=headers, timeout=300) as c:
            for j in range(args.per_client):
                r = c.post("/predict", json={"ids": [ids[(k * args.per_client + j) % len(ids)]]})
                errors += r.status_code != 200
        return errors

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        out["errors"] = float(sum(pool.map(client, range(args.clients))))
    out["concurrent_s"] = time.perf_counter() - started
    out["rss_after_mib"] = rss_mib(pid)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="demo size (1.0: ~3k customers)")
    parser.add_argument("--kinds", default="lightgbm,gnn")
    parser.add_argument("--runs", type=Path, help="folder for the demo database and runs (default: a temp folder)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()
    folder = args.runs or Path(tempfile.mkdtemp(prefix="relgraph_serve_bench_"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "demo.db"
    if not db.exists():
        make_demo_database(db, seed=0, scale=args.scale)
    with sqlite3.connect(db) as con:
        ids = [r[0] for r in con.execute("SELECT customer_id FROM customers ORDER BY customer_id")]
    results = {}
    for kind in args.kinds.split(","):
        run = folder / f"run_{kind}"
        if not (run / "config.json").exists():
            started = time.perf_counter()
            cli(["train", f"sqlite:///{db}", "--query", CHURN, "--model", kind, "--out", str(run), "--epochs", "3",
                 "--threads", "1", "--quiet"])
            print(f"trained {kind} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        started = time.perf_counter()
        proc = start(db, run, args.port, folder / f"serve_{kind}.log")
        print(f"{kind}: server up (loaded + warmed) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        try:
            results[kind] = bench(f"http://127.0.0.1:{args.port}", proc.pid, ids, args)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"\ndemo scale {args.scale} ({len(ids)} customers), warm server on loopback, one request at a time unless noted")
    print(f"{'model':<10}{'p50 ms':>9}{'p99 ms':>9}{'batch ' + str(args.batch) + ' s':>13}"
          f"{str(args.clients) + 'x' + str(args.per_client) + ' s':>10}{'errors':>8}{'RSS MiB before/after':>23}")
    for kind, r in results.items():
        print(f"{kind:<10}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['batch_s']:>13.2f}{r['concurrent_s']:>10.1f}"
              f"{int(r['errors']):>8}{r['rss_before_mib']:>12.0f} / {r['rss_after_mib']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
