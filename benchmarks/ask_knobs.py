"""``relgraph ask``'s knobs: test quality and CPU seconds of one answer per setting.

For each task of ``benchmarks/ask.py`` and each setting (feature builder settings in
``relgraph.runs.ask.ASK_FEATURES``, LightGBM settings in ``ASK_CONFIG``), the answer's whole
procedure (:func:`relgraph.runs.ask.fit_answer`: backtest, one feature pass, the answer's model)
at the task's test cutoff, asked for the task's test rows and scored on them, beside the CPU and
wall seconds it took (feature cache cleared before each).

    nice -n 5 .venv/bin/python benchmarks/ask_knobs.py [--tasks driver-dnf churn] [--settings base fast]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ask import TASKS, _scaled, _source  # noqa: E402

import relgraph  # noqa: E402
from relgraph.baselines.aggregates import clear_feature_cache  # noqa: E402
from relgraph.metrics import PRIMARY_METRIC, task_metrics  # noqa: E402
from relgraph.query import make_training_table, parse, split_timestamps, validate  # noqa: E402
from relgraph.runs import ask as ask_module  # noqa: E402

#: name -> (feature builder settings, LightGBM settings over ``lightgbm_model.BASE_PARAMS``);
#: "no-parents": without the current parents; "context-N": N context rows exactly (no growth).
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "no-parents": ({}, {"learning_rate": 0.1, "min_data_in_leaf": 40}),
    "context-2500": ({}, {"learning_rate": 0.1, "min_data_in_leaf": 40}),
    "context-10000": ({}, {"learning_rate": 0.1, "min_data_in_leaf": 40}),
    "context-20000": ({}, {"learning_rate": 0.1, "min_data_in_leaf": 40}),
    "base": ({}, {"learning_rate": 0.1, "min_data_in_leaf": 40}),
    "lgb-fast": ({}, {"learning_rate": 0.2, "min_data_in_leaf": 40, "feature_fraction": 0.5}),
    "lgb-ff": ({}, {"learning_rate": 0.1, "min_data_in_leaf": 40, "feature_fraction": 0.5, "max_bin": 31}),
    "last-n": ({"last_n": (1, 5)}, {"learning_rate": 0.1, "min_data_in_leaf": 40}),
    "windows": ({"windows": [30, 365]}, {"learning_rate": 0.1, "min_data_in_leaf": 40}),
    "categories": ({"max_categories": 5}, {"learning_rate": 0.1, "min_data_in_leaf": 40}),
    "depth1": ({"depth": 1}, {"learning_rate": 0.1, "min_data_in_leaf": 40}),
    "depth1-ff": ({"depth": 1}, {"learning_rate": 0.1, "min_data_in_leaf": 40, "feature_fraction": 0.5, "max_bin": 31}),
}


#: The shipped LightGBM settings, which every setting's own settings override.
DEFAULT_CONFIG = dict(ask_module.ASK_CONFIG)


def _context_rows(setting: str) -> int | None:
    return int(setting.split("-")[1]) if setting.startswith("context-") else None


def run(name: str, setting: str, folder: Path) -> dict[str, Any]:
    task = TASKS[name]
    db = relgraph.connect(_source(task, folder))
    parsed = parse(task.query)
    resolved = validate(parsed, db.schema)
    stamps = split_timestamps(db, parsed, task.val_cutoff, task.test_cutoff)["test"]
    at = pd.Timestamp(task.test_cutoff or min(stamps))
    test_rows = make_training_table(db, resolved, stamps).dropna(subset=["label"]).reset_index(drop=True)
    features, config = SETTINGS[setting]
    ask_module.ASK_FEATURES.clear()
    ask_module.ASK_FEATURES.update(features)
    ask_module.ASK_CONFIG.clear()
    ask_module.ASK_CONFIG.update(DEFAULT_CONFIG, **config)
    ask_module.ASK_CURRENT_PARENTS = setting != "no-parents"
    clear_feature_cache()
    started, cpu = time.perf_counter(), time.process_time()
    back, model, pred = ask_module.fit_answer(db, parsed, at, test_rows, _context_rows(setting),
                                                     0, 1, True)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    metric = PRIMARY_METRIC[resolved.task_type][0]
    test = _scaled(resolved.task_type, task_metrics(resolved.task_type, test_rows["label"], pred)[metric])
    assert model is not None and model.model_ is not None and back is not None
    return {"task": name, "setting": setting, "test": test, "auto": task.auto,
            "backtest": None if back.get("value") is None else _scaled(resolved.task_type, back["value"]),
            "columns": len(model.model_.meta_["columns"]), "cpu": cpu, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["driver-dnf", "driver-position", "churn"], choices=list(TASKS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="relgraph-ask-knobs-"))
    lines = ["| task | setting | ask test | auto test | backtest | columns | CPU s | wall s |", "|" + "---|" * 8]
    for name in args.tasks:
        for setting in args.settings:
            r = run(name, setting, folder)
            lines.append(f"| {r['task']} | {r['setting']} | {r['test']:.2f} | {r['auto']:.2f} | "
                         f"{r['backtest'] if r['backtest'] is None else round(r['backtest'], 2)} | {r['columns']} | "
                         f"{r['cpu']:.1f} | {r['wall']:.1f} |")
            print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
