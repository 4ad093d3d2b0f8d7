"""The demo's last step: the churn prediction of the riskiest customer, explained."""

from __future__ import annotations

import pandas as pd

from relgraph.demo.context import DemoContext


def explain_step(ctx: DemoContext) -> None:
    """Explain the highest churn risk the training step predicted (``churn_model``, latest time)."""
    from relgraph.runs.api import load
    from relgraph.runs.explain import summary_lines

    run = load(ctx.out_dir / "churn_model")
    preds = pd.read_parquet(ctx.out_dir / "churn_predictions.parquet")
    if not len(preds):
        return
    top = preds.sort_values("probability", ascending=False).iloc[0]
    key = top[run.entity_key].item() if hasattr(top[run.entity_key], "item") else top[run.entity_key]
    exp = run.explain(ctx.db, [key], top["timestamp"])[0]
    print(f"\nWhy is customer {key} at risk? (relgraph explain {ctx.source} --model {run.directory} --id {key})")
    print("\n".join("  " + line for line in summary_lines(exp, rows=3, features=3)))
