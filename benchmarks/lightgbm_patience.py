"""How many rounds LightGBM's early stopping needs to wait (issue #25): replayed on recorded curves.

Every configuration of ``LightGBMPredictor``'s search trains with early stopping: it stops after
``early_stopping_rounds`` rounds without a validation gain and keeps the best round. Training is
deterministic and early stopping only decides when to stop, so the validation curve recorded with
the current patience (50) holds the curve of every smaller patience: with patience p the search
stops at the first round that is p rounds past its best so far, and keeps that best. Where that
best round is the one patience 50 keeps, the booster's trees up to it, its predictions, the
ensemble and the refits are the same, bit for bit; only the rounds after it are saved.

For each task and seed this fits the search once (the default settings), records each
configuration's validation curve, and prints per patience: the rounds trained (all
configurations), and the configurations whose kept round would change.

    .venv/bin/python benchmarks/lightgbm_patience.py --data rel-f1 demo --seeds 0 1 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import lightgbm  # noqa: E402

from relgraph.baselines.lightgbm_model import LightGBMPredictor  # noqa: E402

PATIENCES = (10, 15, 20, 25, 30, 40, 50)

#: Validation curves of the fits in progress: (params without seed/threads, curve of the first metric).
_CURVES: list[tuple[dict[str, Any], list[float], bool]] = []
_train = lightgbm.train


def _recording_train(params: dict[str, Any], train_set: Any, *args: Any, **kwargs: Any) -> Any:
    """``lightgbm.train`` that records the validation curve of a search configuration."""
    if not kwargs.get("valid_sets"):
        return _train(params, train_set, *args, **kwargs)  # a refit: no validation
    record: dict[str, Any] = {}
    kwargs["callbacks"] = [*kwargs.get("callbacks", []), lightgbm.record_evaluation(record)]
    booster = _train(params, train_set, *args, **kwargs)
    (metric, curve), = next(iter(record.values())).items()  # one validation set, the objective's metric
    higher = metric in ("auc", "average_precision", "ndcg", "map")
    _CURVES.append(({k: v for k, v in params.items() if k not in ("num_threads", "verbose")}, list(curve), higher))
    return booster


def best_round(curve: list[float], patience: int, higher: bool) -> tuple[int, int]:
    """(kept round, rounds trained) of early stopping with ``patience`` on ``curve`` (1-based rounds)."""
    best, best_at = None, 0
    for i, value in enumerate(curve):
        if best is None or (value > best if higher else value < best):
            best, best_at = value, i
        elif i - best_at >= patience:
            return best_at + 1, i + 1
    return best_at + 1, len(curve)


def tasks(data: str) -> dict[str, Any]:
    """name -> (database, task tables) of one data set."""
    import relgraph
    from relgraph.query import build_task

    if data == "rel-f1":
        import rel_f1

        db = relgraph.connect(str(rel_f1.DATA / "db"))
        return {name: (db, rel_f1.load_task(name)) for name in rel_f1.TASKS}
    if data == "demo":
        import tempfile

        from relgraph.demo.generate import make_demo_database
        from relgraph.demo.train_step import CHURN_QUERY

        path = make_demo_database(Path(tempfile.mkdtemp()) / "demo.db", seed=0)
        db = relgraph.connect(f"sqlite:///{path}")
        return {"demo-churn": (db, build_task(db, CHURN_QUERY))}
    if data == "f1":
        from train_profile import DATA, F1_DNF

        db = relgraph.connect(str(DATA / "f1"))
        return {"f1-dnf": (db, build_task(db, F1_DNF))}
    if data == "nycflights":
        import nycflights

        db = relgraph.connect(str(nycflights.DATA))
        return {f"nyc-{name}": (db, build_task(db, nycflights.TASKS[name], val_cutoff=nycflights.VAL_CUTOFF,
                                             test_cutoff=nycflights.TEST_CUTOFF))
                for name in ("delay", "mean-delay")}
    raise SystemExit(f"unknown data {data!r}: rel-f1, demo, f1 or nycflights")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=["rel-f1", "demo"], help="rel-f1, demo, f1, nycflights")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", help="also write every curve's kept round per patience here")
    args = parser.parse_args()
    lightgbm.train = _recording_train
    rows = []
    for data in args.data:
        for name, (db, task) in tasks(data).items():
            for seed in args.seeds:
                _CURVES.clear()
                started = time.perf_counter()
                LightGBMPredictor(seed=seed).fit(db, task)
                seconds = time.perf_counter() - started
                for params, curve, higher in _CURVES:
                    kept = {p: best_round(curve, p, higher) for p in PATIENCES}
                    rows.append({"task": name, "seed": seed, "params": params, "kept": kept, "fit_seconds": seconds})
                print(f"{name} seed {seed}: {len(_CURVES)} configurations, fit {seconds:.1f} s", flush=True)
    print(f"\n{len(rows)} configuration fits; per patience: rounds trained (share of patience 50's), "
          "fits whose kept round differs from patience 50's")
    print(f"{'patience':>8} {'rounds':>8} {'share':>7} {'changed':>8}  changed fits (task seed: round 50 -> p)")
    total50 = sum(r["kept"][50][1] for r in rows)
    for p in PATIENCES:
        trained = sum(r["kept"][p][1] for r in rows)
        changed = [r for r in rows if r["kept"][p][0] != r["kept"][50][0]]
        where = ", ".join(f"{r['task']} {r['seed']}: {r['kept'][50][0]} -> {r['kept'][p][0]}" for r in changed[:6])
        print(f"{p:>8} {trained:>8} {trained / total50:>7.1%} {len(changed):>8}  {where}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
