"""``relgraph ask``'s settings chosen on backtests only, at several times: per setting, the answer's
own backtest (:func:`relgraph.runs.ask.backtest`, scoring at least ``--min-rows`` rows) at the
task's test cutoff, its validation cutoff and ``--weeks`` weeks before the validation cutoff,
and their mean. A setting is JSON: ``features`` (over ``ASK_FEATURES``), ``config`` (over
``ASK_CONFIG``), ``context`` (rows, fixed) and ``periods`` (``ask_context.MIN_PERIODS``).

    .venv/bin/python benchmarks/ask_backtests.py plane-delay '{"features": {"depth": 1}}' '{"features": {"depth": 2}}'
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ask import TASKS, _scaled, _source  # noqa: E402

import relgraph  # noqa: E402
from relgraph.query import parse, split_timestamps, validate  # noqa: E402
from relgraph.runs import ask as ask_module  # noqa: E402
from relgraph.runs import ask_context  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=list(TASKS))
    parser.add_argument("settings", nargs="+", help="JSON settings (see the module docstring); '{}': as shipped")
    parser.add_argument("--min-rows", type=int, default=3000, help="backtest rows scored at least")
    parser.add_argument("--weeks", type=int, nargs="*", default=[4, 8, 12], help="more backtest times, weeks before the validation cutoff")
    args = parser.parse_args()
    task = TASKS[args.task]
    db = relgraph.connect(_source(task, Path(tempfile.mkdtemp(prefix="relgraph-ask-backtests-"))))
    parsed = parse(task.query)
    task_type = validate(parsed, db.schema).task_type
    test_at = pd.Timestamp(task.test_cutoff or min(split_timestamps(db, parsed, task.val_cutoff, task.test_cutoff)["test"]))
    ats = [test_at] + ([pd.Timestamp(task.val_cutoff)] if task.val_cutoff else [])
    ats += [ats[-1] - pd.Timedelta(weeks=w) for w in args.weeks]
    ask_module.BACKTEST_MIN_ROWS = args.min_rows
    shipped = (dict(ask_module.ASK_FEATURES), dict(ask_module.ASK_CONFIG), ask_context.MIN_PERIODS)
    print("| setting | " + " | ".join(f"{at:%Y-%m-%d}" for at in ats) + " | mean | CPU s |")
    print("|---|" + "---|" * (len(ats) + 2))
    for text in args.settings:
        spec = json.loads(text)
        ask_module.ASK_FEATURES.clear()
        ask_module.ASK_FEATURES.update(shipped[0], **spec.get("features", {}))
        ask_module.ASK_CONFIG.clear()
        ask_module.ASK_CONFIG.update(shipped[1], **spec.get("config", {}))
        ask_context.MIN_PERIODS = spec.get("periods", shipped[2])
        cpu = time.process_time()
        values = [_scaled(task_type, ask_module.backtest(db, parsed, at, spec.get("context"), 0, 1)["value"]) for at in ats]
        print(f"| {text} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {sum(values) / len(values):.2f} | "
              f"{time.process_time() - cpu:.0f} |", flush=True)


if __name__ == "__main__":
    main()
