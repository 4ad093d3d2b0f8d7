"""The Python API of a run, what a notebook calls and the CLI wraps::

    >>> import relgraph
    >>> run = relgraph.train("sqlite:///shop.db", "PREDICT COUNT(orders.*, 0, 30, days) = 0 "
    ...                      "FOR EACH customers.customer_id", model="auto")
    >>> run.metrics["test"]
    >>> run.predict("sqlite:///shop.db", at="2024-06-01")
    >>> run.save("churn_run"); again = relgraph.load("churn_run")

A :class:`Run` is a run folder (see :mod:`relgraph.runs.runner`) with its metrics read; the
kept model is loaded on first use.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from relgraph.connectors.urls import redact_password
from relgraph.database import Database, connect
from relgraph.query import entity_database
from relgraph.query.for_each import entity_notes
from relgraph.runs.folder import RunFolder
from relgraph.runs.out_folder import (
    copy_run,
    forget_request_if_untrained,
    prepare_run_folder,
    run_request,
    write_request,
)
from relgraph.runs.runner import evaluate_run, predict_run, torchrun_follower, train_run
from relgraph.runs.tasks import TaskSource, build_run_task
from relgraph.stages import StageRecorder, stage

logger = logging.getLogger(__name__)


class Run(RunFolder):
    """A trained run: ``metrics`` (metrics.json), ``config`` (config.json), ``model`` (the kept
    predictor), ``directory`` (the run folder); reading the folder is :class:`RunFolder`'s."""

    def predict(self, db: str | Database, at: object = None) -> pd.DataFrame:
        """Predictions of the kept model for every entity the query selects at ``at`` (default:
        the latest time in ``db``)."""
        return predict_run(self.connect(db), self.directory, at)

    def evaluate(self, db: str | Database) -> dict[str, Any]:
        """The kept model's validation and test metrics recomputed on ``db`` from the run's task."""
        return evaluate_run(self.connect(db), self.directory)

    def explain(self, db: str | Database, ids: list[Any], at: object = None) -> list[dict[str, Any]]:
        """One explanation per id of the kept model's prediction at ``at`` (default: the latest
        time in ``db``): contributions by table, row, feature (LightGBM) and hop (GNN); see
        :mod:`relgraph.runs.explain`."""
        from relgraph.runs.explain import explain

        return explain(self, self.connect(db), ids, at)

    def save(self, directory: str | Path, overwrite: bool = False) -> Run:
        """Copy the run folder to ``directory`` (created when missing) and return the copy; a run
        already there is replaced only with ``overwrite`` (else :class:`ModelError`)."""
        target = Path(directory)
        if target.resolve() != self.directory.resolve():
            copy_run(self.directory, target, overwrite)
        return Run(target)

    def __repr__(self) -> str:
        return f"Run({str(self.directory)!r}, model={self.config['model']!r}, task={self.config['task_type']!r})"


def train(
    db: str | Database,
    query: str | None = None,
    model: str = "auto",
    *,
    out: str | Path | None = None,
    val_cutoff: str | None = None,
    test_cutoff: str | None = None,
    task_tables: str | Path | None = None,
    entity_col: str | None = None,
    time_col: str | None = None,
    label_col: str | None = None,
    label_horizon: str | None = None,
    seed: int = 0,
    quiet: bool = True,
    gnn_config: Any = None,
    schema: str | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    spark_conf: dict[str, str] | None = None,
    workers: int = 1,
    label_context: bool = False,
    overwrite: bool = False,
) -> Run | None:
    """Train ``model`` (``gnn`` | ``lightgbm`` | ``blend`` | ``auto``: the best on validation) for
    ``query`` on ``db`` (a :class:`Database` or a source such as ``sqlite:///shop.db``), or on
    given ``task_tables`` (a folder of ``train/val/test.parquet``), and return the :class:`Run`.

    The run folder is ``out`` (default: a new temporary folder; keep it with :meth:`Run.save`). A
    run already in ``out`` is replaced only with ``overwrite``; an unfinished one of the same query
    and configuration resumes; else :class:`ModelError` says what differs
    (:mod:`relgraph.runs.out_folder`).
    ``engine`` / ``spark_master`` / ``spark_conf``: where the SQL runs when ``db`` is a source (see
    :func:`relgraph.connect`); a given :class:`Database` keeps its own engine.
    ``workers`` > 1 trains the GNN (of any kind that has one; node tasks) with that many processes
    on this machine (``relgraph.gnn.distributed``); the run folder is the same as with one. Under
    ``torchrun`` every process calls ``train``; rank 0 writes the run folder and returns the Run,
    the others return None.
    ``label_context``: LightGBM also sees each entity's own earlier labels (known by the
    prediction time) as features. ``label_horizon`` (task tables only, e.g. ``"30D"``): how long
    after its time a label is known; with it LightGBM is refitted on training + validation rows
    for test and later rows (a query gives its own horizon).
    """
    if workers != 1:
        import dataclasses

        from relgraph.gnn.config import GNNConfig

        gnn_config = dataclasses.replace(gnn_config or GNNConfig(), workers=workers)
    source = TaskSource(
        query=query,
        val_cutoff=val_cutoff,
        test_cutoff=test_cutoff,
        task_tables=str(Path(task_tables).resolve()) if task_tables else None,
        entity_col=entity_col,
        time_col=time_col,
        label_col=label_col,
        label_horizon=label_horizon,
    )
    locator = db.source if isinstance(db, Database) else redact_password(str(db))
    request = run_request(locator, source, model, seed, gnn_config, schema, label_context,
                          db.engine if isinstance(db, Database) else engine)
    if out is not None and not torchrun_follower():
        # Checked before connecting: a run already in the folder is never replaced without a word.
        note = prepare_run_folder(Path(out), request, overwrite)
        if note:
            logger.info("%s", note)
            if not quiet:
                print(f"relgraph: {note}", file=sys.stderr)
    with StageRecorder(progress=not quiet and not torchrun_follower()):
        database = db if isinstance(db, Database) else _read(db, schema, engine, spark_master, spark_conf)
        if query is not None:  # FOR EACH a column whose values name things: they become a table
            made = entity_database(database, query)
            if made is not database:
                logger.info("%s", entity_notes(made, query)[0])
            database = made
        with stage("training tables") as tables:
            task = build_run_task(database, source)
            tables.rows = len(task.train) + len(task.val) + len(task.test)
        run_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="relgraph-run-"))
        if not torchrun_follower():
            write_request(run_dir, request)
        try:
            train_run(database, task, run_dir, source, model=model, seed=seed, quiet=quiet, gnn_config=gnn_config,
                      schema_file=schema, label_context=label_context)
        except BaseException:
            forget_request_if_untrained(run_dir)  # stopped before any model: nothing to resume, nothing to guard
            raise
    return None if torchrun_follower() else Run(run_dir)


def _read(source: str, schema: str | None, engine: str, spark_master: str | None,
          spark_conf: dict[str, str] | None) -> Database:
    """The database of ``source``, as the run's first stage."""
    with stage("read and infer") as reading:
        database = connect(source, schema=schema, engine=engine, spark_master=spark_master, spark_conf=spark_conf)
        reading.rows = sum(t.num_rows for t in database.tables.values())
    return database


def load(directory: str | Path) -> Run:
    """The run saved in ``directory`` (a ``relgraph train --out`` folder or :meth:`Run.save` copy)."""
    return Run(directory)
