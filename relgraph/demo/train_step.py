"""The demo's training step: a churn model on the shop, its metrics beside the trivial
baseline, and churn risk for every active customer at the latest time in the database."""

from __future__ import annotations

import time

from relgraph.demo.context import DemoContext

#: Churn: an active customer (ordered in the last 90 days) places no order in the next 30 days.
CHURN_QUERY = (
    "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
    "WHERE COUNT(orders.*, -90, 0, days) > 0"
)


def train_step(ctx: DemoContext) -> None:
    """Train the GNN for :data:`CHURN_QUERY` into ``out_dir/churn_model`` and predict at the latest time."""
    from relgraph.gnn.predictor import GNNConfig
    from relgraph.query import build_task
    from relgraph.runs.runner import predict_run, train_run
    from relgraph.runs.tasks import TaskSource

    started = time.perf_counter()
    print(f"\nTraining a churn model:\n  {CHURN_QUERY}")
    task = build_task(ctx.db, CHURN_QUERY)
    print(f"  rows: train {len(task.train)}, val {len(task.val)}, test {len(task.test)}")
    run_dir = ctx.out_dir / "churn_model"
    # Sized for ~2 minutes on 2 cores: a capped number of steps per epoch, small fanouts.
    config = GNNConfig(seed=ctx.seed, hidden=32, fanouts=[6, 3], epochs=5, batch_size=512, max_steps_per_epoch=25,
                       graph_cache_dir=str(ctx.out_dir / ".relgraph_cache"))
    metrics = train_run(ctx.db, task, run_dir, TaskSource(query=CHURN_QUERY), model="gnn", seed=ctx.seed,
                        quiet=True, gnn_config=config)
    trivial = metrics["baselines"]["trivial"]["test"]
    rule = metrics["baselines"].get("rule", {})
    print(f"\n  {'test metric':<20}{'GNN':>10}{'trivial':>10}{'rule':>10}")
    for name in ("auroc", "average_precision", "accuracy"):
        print(f"  {name:<20}{metrics['test'][name]:>10.3f}{trivial[name]:>10.3f}{rule.get('test', {}).get(name, float('nan')):>10.3f}")
    if rule:
        print(f"  rule: {rule['text']}")
    preds = predict_run(ctx.db, run_dir)
    out = ctx.out_dir / "churn_predictions.parquet"
    preds.to_parquet(out, index=False)
    at = preds["timestamp"].iloc[0] if len(preds) else "the latest time"
    print(f"\n  churn risk at {at} for {len(preds)} active customers; highest:")
    print(preds.sort_values("probability", ascending=False).head(5).to_string(index=False))
    print(f"\n  wrote {run_dir}/ (report.html, metrics.json) and {out.name} in {time.perf_counter() - started:.0f} s")
