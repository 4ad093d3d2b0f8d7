"""The demo's training step: a churn model on the shop trained as ``relgraph train`` does by
default (``auto``), its metrics beside the other candidates and the trivial and rule baselines,
and churn risk for every active customer at the latest time in the database."""

from __future__ import annotations

import time

from relgraph.demo.context import DemoContext

#: Churn: an active customer (ordered in the last 90 days) places no order in the next 30 days.
CHURN_QUERY = (
    "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
    "WHERE COUNT(orders.*, -90, 0, days) > 0"
)


def train_step(ctx: DemoContext) -> None:
    """Train :data:`CHURN_QUERY` as ``relgraph train`` does by default (``auto``: the GNN, LightGBM and
    their blend, one kept on validation) into ``out_dir/churn_model``, and predict at the latest time."""
    from relgraph.gnn.config import GNNConfig
    from relgraph.query import build_task
    from relgraph.runs.runner import predict_run, train_run
    from relgraph.runs.tasks import TaskSource

    started = time.perf_counter()
    print(f"\nTraining a churn model (GNN, LightGBM and their blend; one kept on validation):\n  {CHURN_QUERY}")
    task = build_task(ctx.db, CHURN_QUERY)
    print(f"  rows: train {len(task.train)}, val {len(task.val)}, test {len(task.test)}")
    run_dir = ctx.out_dir / "churn_model"
    # The GNN sized for about a minute on 2 cores: a capped number of steps per epoch, small fanouts.
    config = GNNConfig(seed=ctx.seed, hidden=32, fanouts=[6, 3], epochs=5, batch_size=512, max_steps_per_epoch=25,
                       graph_cache_dir=str(ctx.out_dir / ".relgraph_cache"))
    metrics = train_run(ctx.db, task, run_dir, TaskSource(query=CHURN_QUERY), model="auto", seed=ctx.seed,
                        quiet=True, gnn_config=config)
    kept = metrics["model"]
    scores = {kept: metrics["test"], **{name: base["test"] for name, base in metrics["baselines"].items()}}
    names = [n for n in ("lightgbm", "gnn", "blend", "trivial", "rule") if n in scores]
    print(f"\n  {'test metric':<20}" + "".join(f"{n + ('*' if n == kept else ''):>10}" for n in names))
    for metric in ("auroc", "average_precision", "accuracy"):
        print(f"  {metric:<20}" + "".join(f"{scores[n].get(metric, float('nan')):>10.3f}" for n in names))
    if "selection" in metrics:
        chosen = metrics["selection"]
        ahead = ", ".join(f"{name} ahead in {100 * share:.0f} %" for name, share in chosen["evidence"].items())
        print(f"  * kept: {kept} ({chosen['reference']} unless another beats it on validation in "
              f"{100 * chosen['level']:.0f} % of bootstrap resamples; {ahead})")
    if "rule" in metrics["baselines"]:
        print(f"  rule: {metrics['baselines']['rule']['text']}")
    preds = predict_run(ctx.db, run_dir)
    out = ctx.out_dir / "churn_predictions.parquet"
    preds.to_parquet(out, index=False)
    at = preds["timestamp"].iloc[0] if len(preds) else "the latest time"
    print(f"\n  churn risk at {at} for {len(preds)} active customers; highest:")
    print(preds.sort_values("probability", ascending=False).head(5).to_string(index=False))
    print(f"\n  wrote {run_dir}/ (report.html, metrics.json) and {out.name} in {time.perf_counter() - started:.0f} s")
