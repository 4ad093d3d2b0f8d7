"""``relgraph ask``'s LightGBM settings, chosen on backtests only: per task and ``at`` (the test
cutoff and the validation cutoff, both scored on rows whose labels are known by then), the
backtest's features are computed once, then each setting fits the backtest's booster on them and
is scored on the backtest rows (``--min-rows`` of them at least), beside the CPU seconds of its Dataset construction and boosting.

    nice -n 5 .venv/bin/python benchmarks/ask_lgb.py [--tasks driver-dnf churn] [--settings base s1000]
        [--context 5000 20000] [--min-rows 1000]

``--context``: the same for context budgets (rows, fixed), the backtest's features computed per budget.
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
from relgraph.baselines.feature_small import numpy_path  # noqa: E402
from relgraph.query import parse, split_timestamps  # noqa: E402
from relgraph.runs import ask as ask_module  # noqa: E402

#: name -> LightGBM settings over ``ASK_CONFIG``; ``None`` drops a setting. "base": before
#: ``bin_construct_sample_cnt`` 1000 was shipped; "shipped": ``ASK_CONFIG`` as it is.
SETTINGS: dict[str, dict[str, Any]] = {
    "shipped": {},
    "base": {"bin_construct_sample_cnt": None, "force_col_wise": None, "force_row_wise": True},
    "s1000": {"bin_construct_sample_cnt": 1000, "force_col_wise": None, "force_row_wise": True},
    "s2000": {"bin_construct_sample_cnt": 2000, "force_col_wise": None, "force_row_wise": True},
    "s1000-col": {"bin_construct_sample_cnt": 1000, "force_row_wise": None, "force_col_wise": True},
    "s1000-b31": {"bin_construct_sample_cnt": 1000, "force_col_wise": None, "force_row_wise": True, "max_bin": 31},
    "s1000-lr2": {"bin_construct_sample_cnt": 1000, "force_col_wise": None, "force_row_wise": True,
                  "learning_rate": 0.2},
    "s1000-ff5": {"bin_construct_sample_cnt": 1000, "force_col_wise": None, "force_row_wise": True,
                  "feature_fraction": 0.5},
}


def _apply(setting: dict[str, Any], saved: dict[str, Any]) -> None:
    ask_module.ASK_CONFIG.clear()
    ask_module.ASK_CONFIG.update(saved)
    for k, v in setting.items():
        if v is None:
            ask_module.ASK_CONFIG.pop(k, None)
        else:
            ask_module.ASK_CONFIG[k] = v


def run(name: str, at_name: str, settings: list[str], folder: Path, context: int | None = None) -> list[dict[str, Any]]:
    task = TASKS[name]
    db = relgraph.connect(_source(task, folder))
    parsed = parse(task.query)
    cutoff = task.test_cutoff if at_name == "test" else task.val_cutoff
    at = pd.Timestamp(cutoff or min(split_timestamps(db, parsed, task.val_cutoff, task.test_cutoff)["test"]))
    rows, record = ask_module._backtest_rows(db, parsed, at, 0)
    early = ask_module.AskModel(parsed, context).draw(db, pd.Timestamp(record["at"]))
    assert early.task_ is not None
    with numpy_path(ask_module.ASK_NUMPY_ROWS):
        builder, x_train = ask_module.fit_features(db, early.task_)
        x_val, x_rows = ask_module.features_of(db, builder, early.task_.entity_key, [early.task_.val, rows])
    saved = dict(ask_module.ASK_CONFIG)
    out = []
    for setting in settings:
        _apply(SETTINGS[setting], saved)
        cpu = time.process_time()
        early.model_ = ask_module._boosted(builder, early.task_, x_train, x_val, 0, 1)
        cpu = time.process_time() - cpu
        scored = ask_module._scored_backtest(db, early, rows, ask_module.predict_features(early, x_rows), dict(record))
        out.append({"task": name, "at": at_name, "setting": setting, "cpu": cpu,
                    "rounds": early.model_.meta_["iterations"][0], "rows": scored["rows"],
                    "backtest": _scaled(early.task_.task_type, scored["value"])})
        print(f"| {name} | {at_name} {at:%Y-%m-%d} | {setting}{'' if context is None else f' context {context}'} | {out[-1]['backtest']:.2f} | {scored['rows']} | "
              f"{out[-1]['rounds']} | {cpu:.2f} |", flush=True)
    _apply({}, saved)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["churn", "driver-dnf", "driver-top3", "driver-position"],
                        choices=list(TASKS))
    parser.add_argument("--at", nargs="+", default=["test", "val"], choices=["test", "val"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--min-rows", type=int, default=1000, help="backtest rows scored at least (more than "
                        "an answer's BACKTEST_MIN_ROWS: less noise between settings)")
    parser.add_argument("--context", nargs="+", type=int, help="context budgets (rows, fixed) to compare instead of "
                        "the shipped budget")
    args = parser.parse_args()
    ask_module.BACKTEST_MIN_ROWS = args.min_rows
    folder = Path(tempfile.mkdtemp(prefix="relgraph-ask-lgb-"))
    print("| task | at | setting | backtest | rows | rounds | LightGBM CPU s |\n|---|---|---|---|---|---|---|")
    for name in args.tasks:
        for at_name in args.at:
            if at_name == "val" and TASKS[name].val_cutoff is None:
                continue
            for context in args.context or [None]:
                run(name, at_name, args.settings, folder, context)


if __name__ == "__main__":
    main()
