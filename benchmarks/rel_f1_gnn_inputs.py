"""Issue 27 on rel-f1: the GNN's input changes, each alone and together, validation and test, for
the GNN, its blend with LightGBM and auto (kept on validation), against LightGBM.

A variant is a name and GNNConfig overrides (``--variants name='{json}' ...``; default: the issue's
five changes alone and the first four together). A variant with ``refit`` on is scored twice from one
fit: ``name`` with the first model (what ``refit=False`` fits, seed for seed) and ``name+refit`` with
the model refitted on training + validation rows for the test rows; the blend weight and auto's
choice are made on validation with the first model, as ``relgraph train`` does. LightGBM (refitted,
as by default) is fitted once per (task, seed) and shared by the variants. ``unseen`` in the notes:
the validation and test metric on drivers absent from the training table (30-38 % of validation
rows, 65-72 % of test rows).

    PYTHONPATH=$PWD nice .venv/bin/python benchmarks/rel_f1_gnn_inputs.py --seeds 0 1 2 3 4 \\
        --gnn-config '{"num_threads": 1}' --json out.json

Prints, per variant, task and model, the mean validation and test metric over seeds (AUROC in %,
MAE), and paired bootstraps of seed-averaged test predictions against LightGBM's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rel_f1 import DATA, TASKS, fit_lightgbm, load_task, test_metric  # noqa: E402
from stack import paired_bootstrap  # noqa: E402

import relgraph  # noqa: E402
from relgraph.gnn.predictor import GNNConfig, GNNPredictor  # noqa: E402
from relgraph.runs.blend import BlendPredictor  # noqa: E402
from relgraph.runs.selection import choose_on_validation  # noqa: E402

MODELS = ("gnn", "blend", "auto")
#: Other GNN settings (``--gnn-config``), for every variant.
GNN_OVERRIDES: dict[str, Any] = {}

#: The issue's changes, each alone (refit on the base: one fit gives ``base`` and ``base+refit``),
#: and the four cheap ones together with refit; the parent hop costs about three fits.
DEFAULT_VARIANTS: dict[str, dict[str, Any]] = {
    "base": {"refit": True},
    "unseen_static": {"unseen_static": True},
    "code_indicators+history_extremes": {"code_indicators": True, "history_extremes": True},
    "true_degree": {"true_degree": True},
    "parent_hop2": {"parent_hop": 2},
    "all4": {"unseen_static": True, "code_indicators": True, "history_extremes": True,
             "true_degree": True, "refit": True},
}


def gnn_test_preds(model: GNNPredictor, db: relgraph.Database, frame: Any) -> dict[str, np.ndarray]:
    """Test predictions of the first model (``norefit``) and with the refitted one (``refit``)."""
    refitted = model.refit_model_
    model.refit_model_ = None
    first = model.predict(db, frame)
    model.refit_model_ = refitted
    return {"norefit": first, "refit": model.predict(db, frame)}


def run(db: relgraph.Database, tasks: dict[str, Any], seeds: list[int], variants: dict[str, dict[str, Any]],
        out: Path | None = None) -> dict[str, Any]:
    """Seed by seed (every variant and task of a seed before the next seed: a run stopped early
    still covers them all); the results so far are written to ``out`` after each fit."""
    scores: dict[str, Any] = {}
    preds: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    for seed in seeds:
        for name, task in tasks.items():
            y_val, y = task.val["label"].to_numpy(), task.test["label"].to_numpy()
            unseen = ~task.test["driverId"].isin(task.train["driverId"]).to_numpy()
            unseen_val = ~task.val["driverId"].isin(task.train["driverId"]).to_numpy()  # a third of validation
            lgb = fit_lightgbm(db, task, seed)
            lgb_val, lgb_test = lgb.predict(db, task.val), lgb.predict(db, task.test)
            for variant, overrides in variants.items():
                cpu, wall = time.process_time(), time.perf_counter()
                config = dataclasses.replace(GNNConfig(seed=seed), **{**GNN_OVERRIDES, **overrides})
                gnn = GNNPredictor(config, quiet=True).fit(db, task)
                fit_cpu, fit_wall = time.process_time() - cpu, time.perf_counter() - wall
                val = {"gnn": gnn.predict(db, task.val), "lightgbm": lgb_val}
                blend = BlendPredictor({"gnn": gnn, "lightgbm": lgb}).fit_predictions(task, val)
                val["blend"] = blend.combine(val)
                chosen = choose_on_validation(task.task_type, y_val, val, reference="lightgbm").chosen
                val["auto"] = val[chosen]
                # Where item 1 acts: validation's own unseen drivers, to choose it on validation.
                val_unseen = [round(test_metric(name, y_val[unseen_val], val[m][unseen_val]), 4) for m in ("gnn", "lightgbm")]
                note = {"gnn fit cpu s": round(fit_cpu, 1), "gnn fit wall s": round(fit_wall, 1),
                        "best epoch": gnn.best_epoch(), "blend weight": blend.weight_, "auto kept": chosen,
                        "val per epoch": [round(h.get("val_auroc", h.get("val_mae", float("nan"))), 5) for h in gnn.history_],
                        "unseen val gnn/lightgbm": val_unseen}
                if config.refit:
                    note["refit"] = {k: v for k, v in (gnn.refit_ or {}).items() if k != "seconds"}
                if config.parent_hop:
                    note["parent edges"] = [list(et) for et in gnn.parent_edges_]
                tests = gnn_test_preds(gnn, db, task.test) if config.refit else {"norefit": gnn.predict(db, task.test)}
                for refit, gnn_test in tests.items():
                    key = variant + ("+refit" if refit == "refit" else "")
                    test = {"gnn": gnn_test, "lightgbm": lgb_test}
                    test["blend"] = blend.combine(test)
                    test["auto"] = test[chosen]
                    note[f"{key} unseen test gnn/lightgbm"] = [round(test_metric(name, y[unseen], test[m][unseen]), 4)
                                                            for m in ("gnn", "lightgbm")]
                    for model in (*MODELS, "lightgbm"):
                        cell = scores.setdefault(key, {}).setdefault(name, {}).setdefault(model, {"val": [], "test": []})
                        cell["val"].append(test_metric(name, y_val, val[model]))
                        cell["test"].append(test_metric(name, y, test[model]))
                        preds.setdefault(key, {}).setdefault(name, {}).setdefault(model, []).append(np.asarray(test[model], float))
                notes[f"{variant} {name} seed {seed}"] = note
                print(f"{variant} {name} seed {seed}: {note}", flush=True)
                if out is not None:
                    out.write_text(json.dumps({"scores": scores, "notes": notes, "test_preds": preds}, default=_plain))
    return {"scores": scores, "intervals": _intervals(tasks, preds), "notes": notes, "test_preds": preds}


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else float(value)


def _intervals(tasks: dict[str, Any], preds: dict[str, Any]) -> dict[str, Any]:
    """Paired bootstrap (95 %) of each model's seed-averaged test predictions against LightGBM's."""
    intervals: dict[str, Any] = {}
    for key, per_task in preds.items():
        for name, per_model in per_task.items():
            metric = TASKS[name][2]
            y = tasks[name].test["label"].to_numpy().astype(float)
            base = np.mean(per_model["lightgbm"], axis=0)
            scale = 1.0 if metric == "mae" else 100.0
            for model in MODELS:
                b = paired_bootstrap(y, np.mean(per_model[model], axis=0), base, metric)
                intervals.setdefault(key, {}).setdefault(name, {})[model] = [scale * b[k] for k in ("diff", "lo", "hi")]
    return intervals


def print_table(result: dict[str, Any]) -> None:
    for key, per_task in result["scores"].items():
        print(f"\n{key}")
        for name, per_model in per_task.items():
            digits = 3 if TASKS[name][2] == "mae" else 2
            cells = []
            for model, cell in per_model.items():
                diff = result["intervals"][key][name].get(model)
                interval = f" [{diff[1]:+.{digits}f}, {diff[2]:+.{digits}f}]" if diff else ""
                cells.append(f"{model} val {np.mean(cell['val']):.{digits}f} test {np.mean(cell['test']):.{digits}f}"
                             f" ± {np.std(cell['test']):.{digits}f}{interval}")
            print(f"  {name}: " + "; ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--variants", nargs="+", default=None, metavar="NAME=JSON",
                        help="GNNConfig overrides per variant (default: the issue's changes alone and together)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--gnn-config", default="{}", help='other GNN settings as JSON, e.g. \'{"num_threads": 1}\'')
    args = parser.parse_args(argv)
    GNN_OVERRIDES.update(json.loads(args.gnn_config))
    started, cpu = time.perf_counter(), time.process_time()
    db = relgraph.connect(DATA)
    tasks = {name: load_task(name) for name in args.tasks.split(",")}
    variants = DEFAULT_VARIANTS
    if args.variants:
        variants = {item.split("=", 1)[0]: json.loads(item.split("=", 1)[1]) for item in args.variants}
    result = run(db, tasks, args.seeds, variants, args.json)
    print_table(result)
    result.update(wall_seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu)
    print(f"\nwall {result['wall_seconds']:.0f} s, cpu {result['cpu_seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=_plain))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
