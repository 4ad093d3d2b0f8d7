"""One training run end to end, and what ``predict`` / ``evaluate`` need to reuse it.

A run folder (``relgraph train --out DIR``) holds:

- ``config.json``: model kept, models trained, task (query or task-table folder), cutoffs,
  decision threshold, GNN hyper-parameters, seed;
- ``request.json``: what the run was asked for (``runs.out_folder``: a folder holding a run is
  replaced only with ``overwrite``, and resumed when unfinished with the same request);
- ``query.pql`` (when a query was given), ``schema.toml`` (the schema used);
- ``<model>/``: each trained model's files (``gnn/``: safetensors weights + JSON state;
  ``blend/``: the GNN weight only, its members being ``gnn/`` and ``lightgbm/``);
- ``metrics.json``: ``{"task", "model", "val", "test", "baselines": {name: {"val", "test", "text"}}}``:
  every model not kept and the baselines, ``trivial`` and ``rule`` (the one-line recent-form rule
  chosen on validation; ranking: ``history``), each baseline with its one-line ``text``;
- ``predictions.parquet``: test rows with the kept model's predictions;
- ``report.html``; ``train.log``;
- ``metrics.json``'s ``timings``: stage -> ``{"seconds", "rows", "calls"}`` (``relgraph.stages``:
  each stage's own seconds, those of stages inside it excluded; ``other``: what no stage covers),
  also one ``train.log`` line per stage and the report's "where the time went" bar.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relgraph.baselines.aggregates import TemporalFeatureBuilder
from relgraph.baselines.ranking import HistoryRanker, PopularityRanker
from relgraph.baselines.rules import WINDOW_PATTERN, RecentFormRule, TrivialBaseline, candidate_builder
from relgraph.database import Database
from relgraph.errors import ModelError, QueryError
from relgraph.metrics import PRIMARY_METRIC, choose_threshold, primary_score, task_metrics
from relgraph.predictor import Predictor
from relgraph.query.task import TaskTables
from relgraph.runs import registry
from relgraph.runs.blend import MEMBERS, BlendPredictor
from relgraph.runs.folder import CONFIG_FILE, load_model, prediction_frame, read_config
from relgraph.runs.report import ModelRun, write_report
from relgraph.runs.selection import choose_on_validation
from relgraph.runs.tasks import SPLITS, TaskSource, build_run_task, cutoffs_text, prediction_rows
from relgraph.schema.io import write_schema
from relgraph.stages import StageRecorder, active_recorder, stage

logger = logging.getLogger(__name__)

#: ``blend`` trains the GNN and LightGBM and keeps their blend; ``hybrid``: LightGBM over the
#: features plus out-of-fold GNN scores (``runs.hybrid``); ``auto`` keeps LightGBM unless the GNN
#: or their blend beats it on validation beyond resampling noise (``runs.selection``; rankers: the
#: better of the two on validation). The hybrid is not among auto's
#: candidates: it tied the blend on validation and costs three more GNN fits (benchmarks/README.md).
MODEL_KINDS = ("gnn", "lightgbm", "blend", "hybrid", "auto")
def torchrun_follower() -> bool:
    """True in a process torchrun launched as a worker other than rank 0 (read from the
    environment, so a LightGBM run imports no torch): it trains its share of the GNN and
    writes nothing; rank 0 writes the run folder."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and os.environ.get("RANK", "0") != "0"


def _model_classes(model: Predictor, trivial: TrivialBaseline) -> list[Any]:
    """Class order of a multiclass model's probability columns."""
    return list(model.classes_ or trivial.classes_ or [])


#: One line per fixed baseline, shown beside its scores in metrics.json and report.html.
BASELINE_TEXT = {
    "trivial": {
        "binary": "the entity's positive rate in the training rows (entities without training rows: the overall rate)",
        "regression": "the median training label",
        "multiclass": "the training class frequencies",
        "ranking": "the k most picked targets in the last window, the same for every entity",
    },
    "history": "the entity's own past targets by frequency, back-filled by the most popular",
}


def ranking_baselines(db: Database, task: TaskTables) -> list[tuple[str, Predictor]]:
    """The rule baselines every ranking run reports: ``trivial`` (popularity in the last window)
    and ``history`` (the entity's own past targets by frequency, back-filled by popularity: the
    ranking counterpart of the node tasks' one-line rule)."""
    return [("trivial", PopularityRanker().fit(db, task)), ("history", HistoryRanker().fit(db, task))]


def _fitted_builder(fitted: dict[str, Any]) -> TemporalFeatureBuilder | None:
    """The temporal feature builder a fitted LightGBM (member or the hybrid's) holds, if any."""
    for kind in ("lightgbm", "hybrid"):
        model = fitted.get(kind)
        model = getattr(model, "lightgbm_", model)
        builder = getattr(model, "builder", None)
        while builder is not None and not isinstance(builder, TemporalFeatureBuilder):
            builder = getattr(builder, "inner", None)  # wrappers adding columns (GNN scores, label context)
        if builder is not None:
            return builder
    return None


def rule_baseline(db: Database, task: TaskTables, fitted: TemporalFeatureBuilder | None = None) -> tuple[RecentFormRule | None, str]:
    """The one-line recent-form rule of a node task (``baselines.rules.RecentFormRule``: the single
    last-n or time-window mean / share, chosen on validation) and its text; ``(None, reason)``
    when there is no validation row or the entity has no event history to form a rule from.
    Its builder computes only the candidate features, with the state of ``fitted`` (a LightGBM's
    builder, fitted on the same training rows) when given, and the running tables that one
    already computed (cached per database), so it costs little."""
    if not len(task.val):
        return None, "none: the validation table is empty, and the rule is chosen on it"
    try:
        builder = candidate_builder(fitted, WINDOW_PATTERN) if fitted is not None else None
        rule = RecentFormRule(candidates=WINDOW_PATTERN, builder=builder).fit(db, task)
    except (QueryError, ValueError, ArithmeticError, np.linalg.LinAlgError) as err:  # a baseline never fails the run
        return None, f"none: {err}"
    return rule, rule.describe()


def _rule_run(db: Database, task: TaskTables, fitted: dict[str, Any], trivial: Any) -> tuple[ModelRun | None, str]:
    """The one-line rule's run (None without a rule) and its text, with a fitted LightGBM's features."""
    started = time.perf_counter()
    with stage("rule", rows=len(task.train) + len(task.val) + len(task.test)):
        rule, rule_note = rule_baseline(db, task, _fitted_builder(fitted))
        if rule is None:
            logger.info("no rule baseline: %s", rule_note)
            return None, rule_note
        rule_run, _ = _evaluate("rule", rule, db, task, trivial)
    rule_run.text, rule_run.seconds = rule_note, time.perf_counter() - started
    logger.info("rule (%s): val %s, test %s (%.1f s)", rule_note, rule_run.val, rule_run.test, rule_run.seconds)
    return rule_run, rule_note


def train_run(
    db: Database,
    task: TaskTables,
    out_dir: Path,
    source: TaskSource,
    model: str = "gnn",
    seed: int = 0,
    quiet: bool = False,
    gnn_config: Any = None,
    schema_file: str | None = None,
    label_context: bool = False,
) -> dict[str, Any]:
    """Train ``model`` (``gnn`` | ``lightgbm`` | ``blend``: both and their blend kept | ``hybrid`` |
    ``auto``: both, their blend (not for ranking), one kept by ``runs.selection``), evaluate it and
    the trivial and rule baselines, write every artifact into ``out_dir``; returns metrics.json.
    ``label_context``: LightGBM (and the hybrid's) also see the entity's own earlier labels."""
    if model not in MODEL_KINDS:
        raise ModelError(f"unknown model {model!r}; use one of {MODEL_KINDS}")
    if model == "hybrid" and task.task_type == "ranking":
        raise ModelError("--model hybrid covers binary, regression and multiclass tasks; use auto, gnn or lightgbm for ranking")
    if model == "blend" and task.task_type == "ranking":
        raise ModelError("--model blend covers binary, regression and multiclass tasks; use auto, gnn or lightgbm for ranking")
    if model == "blend" and not len(task.val):
        raise ModelError("--model blend chooses its weight on validation rows, and the validation table is empty")
    kinds = list(MEMBERS) if model in ("auto", "blend") else [model]
    if active_recorder() is None and not torchrun_follower():  # called directly, not from api.train
        with StageRecorder(progress=not quiet):
            return train_run(db, task, out_dir, source, model, seed, quiet, gnn_config, schema_file, label_context)
    if torchrun_follower():
        # The GNN fits rank 0 makes, in the same order (each one a collective training); nothing else.
        for kind in kinds:
            if kind in ("gnn", "hybrid"):
                registry.new_model(kind, task.task_type, seed, True, gnn_config, None).fit(db, task)
        return {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    primary = PRIMARY_METRIC[task.task_type][0]

    with stage("trivial"):
        trivial = TrivialBaseline(labels="training").fit(db, task) if task.task_type != "ranking" else None
    runs: list[ModelRun] = []
    fitted: dict[str, Any] = {}
    thresholds: dict[str, float] = {}
    evaluated: dict[str, tuple[ModelRun, float]] = {}  # the GNN's, made on its own lane where it trained beside LightGBM
    rule_result: list[tuple[ModelRun | None, str]] = []
    lightgbm_tables: dict[str, dict[str, float] | None] = {}  # the report's LightGBM explanations, made early

    def evaluate(kind: str, predictor: Predictor) -> None:
        evaluated.setdefault(kind, _evaluate(kind, predictor, db, task, trivial))

    def before_waiting(done: dict[str, Predictor], gnn_training: bool) -> None:
        # LightGBM's lane is done while the GNN's trains: its predictions and the rule need not wait
        for kind, predictor in done.items():
            with stage("predictions", rows=len(task.val) + len(task.test)):
                evaluate(kind, predictor)
        if trivial is not None:
            rule_result.append(_rule_run(db, task, done, trivial))
        if gnn_training and "lightgbm" in done and task.task_type != "ranking":
            # nor the report's LightGBM explanations (LightGBM or the blend is kept in most runs)
            with stage("lightgbm explanations", rows=len(task.test)):
                lightgbm_tables["tables"] = _lightgbm_tables(done["lightgbm"], db, task)

    members = _fit_members(db, task, kinds, seed, quiet, gnn_config, out_dir, label_context, evaluate, before_waiting)
    for kind in kinds:
        predictor, seconds = members[kind]
        fitted[kind] = predictor
        if kind in evaluated:
            run, thresholds[kind] = evaluated[kind]
        else:
            with stage("predictions", rows=len(task.val) + len(task.test)):
                run, thresholds[kind] = _evaluate(kind, predictor, db, task, trivial)
        run.seconds = seconds
        run.history = list(predictor.history_)
        run.feature_importance = predictor.feature_importance_
        runs.append(run)
        logger.info("%s: val %s, test %s (%.1f s)", kind, run.val, run.test, seconds)
    selection, chosen = _blend_and_choose(model, task, kinds, runs, fitted, thresholds, trivial, db, primary)
    # Baselines are reported, never kept: the choice above is among the trained models only.
    rule_note = None
    if trivial is not None:
        trivial_run, _ = _evaluate("trivial", trivial, db, task, trivial)
        trivial_run.text = BASELINE_TEXT["trivial"][task.task_type]
        runs.append(trivial_run)
        rule_run, rule_note = rule_result[0] if rule_result else _rule_run(db, task, fitted, trivial)
        if rule_run is not None:
            runs.append(rule_run)
    if task.task_type == "ranking":
        with stage("ranking baselines", rows=len(task.val) + len(task.test)):
            for name, base in ranking_baselines(db, task):
                base_run = _evaluate(name, base, db, task, None)[0]
                base_run.text = BASELINE_TEXT[name] if name == "history" else BASELINE_TEXT[name]["ranking"]
                runs.append(base_run)

    with stage("save models"):
        for kind, predictor in fitted.items():
            predictor.save(out_dir / kind)
            for checkpoint in (out_dir / kind).rglob("checkpoint.pt"):  # the run finished: nothing to resume
                checkpoint.unlink()
    kept = next(r for r in runs if r.name == chosen)
    classes = _model_classes(fitted[chosen], trivial) if trivial is not None else None
    metrics = {
        "task": task.task_type,
        "model": chosen,
        "val": kept.val,
        "test": kept.test,
        **({"selection": selection.as_dict()} if selection is not None else {}),
        "baselines": {
            r.name: {"val": r.val, "test": r.test, **({"text": r.text} if r.text else {})} for r in runs if r.name != chosen
        },
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    preds = prediction_frame(task, task.test, kept.test_pred, thresholds[chosen], classes)
    preds.to_parquet(out_dir / "predictions.parquet", index=False)

    config = {
        "model": chosen,
        "models": list(fitted),
        "task_type": task.task_type,
        "entity_table": task.entity_table,
        "entity_key": task.entity_key,
        "source": dataclasses.asdict(source),
        "seed": seed,
        "label_context": label_context,
        "threshold": thresholds[chosen],
        "classes": classes,
        "gnn": dataclasses.asdict(fitted["gnn"].config) if "gnn" in fitted else None,
        "source_database": db.source,
        "schema_file": schema_file,
        "engine": {"name": db.engine, **{k: str(v) for k, v in db.engine_options.items()}},
    }
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
    if source.query:
        (out_dir / "query.pql").write_text(source.query.strip() + "\n")
    write_schema(db.schema, out_dir / "schema.toml")
    summary = {
        "task type": task.task_type,
        "query": source.query or "(given task tables)",
        "task tables": source.task_tables or "built from the query",
        "entity": f"{task.entity_table}.{task.entity_key}",
        **({"cutoffs": cutoffs_text(task)} if cutoffs_text(task) else {}),
        "database": db.source,
        **{f"{s} rows": len(task.split(s)) for s in SPLITS},
        **{
            f"{s} time range": f"{task.split(s)['timestamp'].min()} .. {task.split(s)['timestamp'].max()}"
            for s in SPLITS
            if len(task.split(s))
        },
        "model kept": ("blend (--model blend)" if model == "blend" else selection.text(primary) if selection is not None
                       else f"{chosen} (best validation {primary})"),
        **({"blend": f"GNN weight {fitted['blend'].weight_:.1f}, LightGBM {1 - fitted['blend'].weight_:.1f} "
                     f"(chosen on validation {primary})"} if "blend" in fitted else {}),
        **({"rule baseline": rule_note} if rule_note is not None and not any(r.name == "rule" for r in runs) else {}),
        "seed": seed,
    }
    recorder = active_recorder()
    with stage("report", rows=len(task.test)):
        write_report(out_dir / "report.html", summary, {s: task.split(s) for s in SPLITS}, runs, chosen, primary, classes,
                     timings=recorder.summary() if recorder is not None else None, db=db,
                     lightgbm_tables=lightgbm_tables.get("tables") if chosen in ("lightgbm", "blend") else None)
    if recorder is not None:  # every stage closed now, the report's included
        metrics["timings"] = recorder.summary()
        metrics["seconds"] = round(recorder.wall_seconds(), 3)
        metrics["cpu_seconds"] = round(recorder.cpu_seconds(), 3)
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    return metrics


def _fit_members(db: Database, task: TaskTables, kinds: list[str], seed: int, quiet: bool, gnn_config: Any,
                 out_dir: Path, label_context: bool, evaluate: Callable[[str, Predictor], Any] | None = None,
                 before_waiting: Callable[[dict[str, Predictor], bool], Any] | None = None,
                 ) -> dict[str, tuple[Predictor, float]]:
    """Each kind's fitted model and its seconds. The GNN and LightGBM of ``auto`` / ``blend`` train
    side by side where two cores are usable (:func:`gnn_beside_lightgbm`); otherwise one after another.
    Side by side, the GNN's lane then also makes its validation and test predictions (``evaluate``)
    while LightGBM may still train, and once the other members are fitted, ``before_waiting`` gets
    them (kind -> model) and whether the GNN still trains."""

    def fit(kind: str, config: Any = gnn_config) -> tuple[Predictor, float]:
        logger.info("%s: training", kind)
        started = time.perf_counter()
        with stage(f"{kind} fit", rows=len(task.train)):
            predictor = registry.new_model(kind, task.task_type, seed, quiet, config, out_dir / kind, label_context).fit(db, task)
        return predictor, time.perf_counter() - started

    beside = gnn_beside_lightgbm(kinds, gnn_config)
    if beside is None:
        return {kind: fit(kind) for kind in kinds}
    recorder = active_recorder()
    assert recorder is not None  # train_run activates one
    result: dict[str, Any] = {}

    def gnn_lane() -> None:
        try:
            with recorder.beside("gnn"), db.own_connection():  # LightGBM runs SQL at the same time
                result["gnn"] = fit("gnn", beside)
                if evaluate is not None:
                    with stage("predictions", rows=len(task.val) + len(task.test)):
                        evaluate("gnn", result["gnn"][0])
        except BaseException as err:  # raised in the run's thread once LightGBM is done
            result["error"] = err

    lane = threading.Thread(target=gnn_lane, name="relgraph-gnn", daemon=True)
    lane.start()
    members = {kind: fit(kind) for kind in kinds if kind != "gnn"}
    if before_waiting is not None:
        before_waiting({kind: predictor for kind, (predictor, _) in members.items()}, lane.is_alive())
    with stage("waiting for the gnn"):  # LightGBM done first: the rest of the GNN's time, on the run's clock
        while lane.is_alive():
            lane.join(timeout=0.5)  # in short waits, so Ctrl-C still reaches this thread
    if "error" in result:
        raise result["error"]
    return {kind: result["gnn"] if kind == "gnn" else members[kind] for kind in kinds}


def _lightgbm_tables(model: Predictor, db: Database, task: TaskTables) -> dict[str, float] | None:
    """The report's per-table LightGBM contributions (``explain.report.lightgbm_table_contributions``);
    None when they cannot be made (the report then tries again and says why in its section)."""
    from relgraph.runs.explain.report import lightgbm_table_contributions

    try:
        return lightgbm_table_contributions(model, db, task.test, task.entity_key)
    except Exception as err:  # noqa: BLE001 - explanations never fail the training run
        logger.info("LightGBM explanations before the wait skipped: %s", err)
        return None


def gnn_beside_lightgbm(kinds: list[str], gnn_config: Any) -> Any:
    """The GNN's settings when it trains beside LightGBM, or None when it trains on its own.

    Side by side where both are members, two cores are usable and the GNN is one process: it
    then takes half its torch threads (one by default) and LightGBM's single-threaded boosters the
    other core. On an idle machine two torch threads took the GNN's epochs from about 40 to 27 s
    for 54 CPU s instead of 40 (their threads spin while they wait), and while anything else ran
    they took 2-3 times as long: the run is the shortest when both cores do useful work (rel-f1
    driver-dnf ``--model auto``; benchmarks/README.md, issue 25)."""
    from relgraph.baselines.lightgbm_search import usable_cores

    if "gnn" not in kinds or "lightgbm" not in kinds or usable_cores() < 2:
        return None
    from relgraph.gnn.config import GNNConfig

    config = gnn_config or GNNConfig()
    if getattr(config, "workers", 1) > 1:  # several training processes: their own plan for the cores
        return None
    return dataclasses.replace(config, num_threads=max(1, config.num_threads // 2))


def _blend_and_choose(
    model: str, task: TaskTables, kinds: list[str], runs: list[ModelRun], fitted: dict[str, Any],
    thresholds: dict[str, float], trivial: TrivialBaseline | None, db: Database, primary: str,
) -> tuple[Any, str]:
    """The blend of the members (when both were fitted; appended to ``runs``, ``fitted`` and
    ``thresholds``) and the model kept: ``(selection or None, name)``."""
    if len(kinds) == len(MEMBERS) and task.task_type != "ranking":
        with stage("blend and bootstrap", rows=len(task.val) + len(task.test)):
            # The blend combines the members' predictions already made above: no member predicts again.
            started = time.perf_counter()
            member_runs = {r.name: r for r in runs}
            blend = BlendPredictor({k: fitted[k] for k in MEMBERS})
            blend.fit_predictions(task, {k: member_runs[k].val_pred for k in MEMBERS})
            preds = {
                "val": blend.combine({k: member_runs[k].val_pred for k in MEMBERS}),
                "test": blend.combine({k: member_runs[k].test_pred for k in MEMBERS}),
            }
            fitted["blend"] = blend
            run, thresholds["blend"] = _evaluate("blend", blend, db, task, trivial, preds)
            run.seconds = time.perf_counter() - started
            runs.append(run)
            logger.info("blend (GNN weight %.1f): val %s, test %s", fitted["blend"].weight_, run.val, run.test)

    selection = None
    if model == "blend":
        chosen = "blend"
    elif model == "auto" and "blend" in fitted and len(task.val):
        # LightGBM unless another candidate beats it on validation beyond resampling noise.
        with stage("blend and bootstrap", rows=len(task.val)):
            selection = choose_on_validation(task.task_type, task.val["label"].to_numpy(),
                                             {r.name: r.val_pred for r in runs}, reference="lightgbm",
                                             classes=_model_classes(fitted["lightgbm"], trivial) if trivial else None)
        chosen = selection.chosen
        logger.info("kept %s", selection.text(primary))
    else:  # ties keep the earlier run
        chosen = max(runs, key=lambda r: primary_score(task.task_type, r.val)).name
    return selection, chosen


def _evaluate(
    name: str, predictor: Predictor, db: Database, task: TaskTables, trivial: TrivialBaseline | None,
    preds: dict[str, np.ndarray] | None = None,
) -> tuple[ModelRun, float]:
    """Val and test metrics of one model (from ``preds["val"]`` / ``preds["test"]`` when given,
    else its own predictions); binary threshold chosen on validation."""
    classes = _model_classes(predictor, trivial) if trivial is not None else None
    if preds is not None:
        val_pred, test_pred = preds["val"], preds["test"]
    else:
        val_pred = predictor.predict(db, task.val) if len(task.val) else np.zeros(0)
        test_pred = predictor.predict(db, task.test) if len(task.test) else np.zeros(0)
    threshold = 0.5
    if task.task_type == "binary" and len(task.val):
        threshold = choose_threshold(task.val["label"].to_numpy(), val_pred)
    val = task_metrics(task.task_type, task.val["label"], val_pred, classes, threshold, task.k) if len(task.val) else {}
    test = task_metrics(task.task_type, task.test["label"], test_pred, classes, threshold, task.k) if len(task.test) else {}
    return ModelRun(name, val, test, test_pred=test_pred, val_pred=val_pred), threshold


def evaluate_run(db: Database, run_dir: Path) -> dict[str, Any]:
    """Recompute the kept model's val/test metrics on ``db`` from the run's task definition."""
    config = read_config(run_dir)
    source = TaskSource(**config["source"])
    task = build_run_task(db, source)
    model = load_model(Path(run_dir))
    classes = config.get("classes")
    out: dict[str, Any] = {"task": task.task_type, "model": config["model"]}
    for split in ("val", "test"):
        frame = task.split(split)
        pred = model.predict(db, frame) if len(frame) else np.zeros(0)
        out[split] = (
            task_metrics(task.task_type, frame["label"], pred, classes, config["threshold"], task.k) if len(frame) else {}
        )
    return out


def predict_run(db: Database, run_dir: Path, at: object = None) -> pd.DataFrame:
    """Predictions of the kept model for every selected entity at ``at`` (default: where the query's
    target rows end, ``runs.explain.run.default_at``; a run on task tables: the latest time in ``db``)."""
    from relgraph.runs.explain.run import parse_at

    config = read_config(run_dir)
    source = config["source"]
    at_ts = parse_at(at, db, source.get("query"))
    rows = prediction_rows(db, source.get("query"), config["entity_table"], config["entity_key"], at_ts)
    model = load_model(Path(run_dir))
    if config["task_type"] == "ranking":
        ids, scores = model.rank(db, rows)  # per entity: top k target ids with their scores
        ranked = prediction_frame(config, rows, ids, config["threshold"])
        ranked["score"] = [[float(v) for v in row if not np.isnan(v)] for row in scores]
        return ranked
    pred = model.predict(db, rows) if len(rows) else np.zeros((0, len(config.get("classes") or [])))
    return prediction_frame(config, rows, pred, config["threshold"], config.get("classes"))
