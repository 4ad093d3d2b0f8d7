"""The task of a run: built from its query, or read from given train / val / test tables; and
the rows a kept model predicts for at a later time."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.errors import QueryError
from relgraph.query import build_task, make_training_table, parse
from relgraph.query.ast import ColumnRef, Query
from relgraph.query.task import TaskTables

SPLITS = ("train", "val", "test")
logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TaskSource:
    """Where a run's task comes from: a query with cutoffs, or given task tables."""

    query: str | None = None
    val_cutoff: str | None = None
    test_cutoff: str | None = None
    task_tables: str | None = None
    entity_col: str | None = None
    time_col: str | None = None
    label_col: str | None = None
    #: Task tables: how long after its time a label is known (e.g. "30D"; a query gives its own).
    label_horizon: str | None = None


def _entity_table_for(db: Database, key: str) -> str:
    tables = [name for name, t in db.schema.tables.items() if t.primary_key == key]
    if len(tables) != 1:
        found = "no table" if not tables else f"tables {tables}"
        raise QueryError(
            f"entity column {key!r}: {found} has it as primary key; pass --query to name the entity table"
        )
    return tables[0]


def _task_type_of(labels: pd.Series) -> str:
    values = labels.dropna()
    if pd.api.types.is_bool_dtype(values) or set(pd.unique(values)) <= {0, 1}:
        return "binary"
    if pd.api.types.is_float_dtype(values) or (pd.api.types.is_integer_dtype(values) and values.nunique() > 20):
        return "regression"
    return "multiclass"


def load_task_tables(db: Database, source: TaskSource) -> TaskTables:
    """Read ``train/val/test.parquet`` from ``source.task_tables`` into a :class:`TaskTables`.

    The entity key, time and label columns are taken from the options, else recognised: the
    time column is the one of datetime type, the entity column one that is some table's primary
    key (the query's entity key when a query is given), the label the remaining column.
    """
    assert source.task_tables is not None
    folder = Path(source.task_tables)
    if source.label_horizon is not None:
        try:
            pd.Timedelta(source.label_horizon)
        except ValueError:
            raise QueryError(f"--label-horizon {source.label_horizon!r} is not a duration; write e.g. 30D, 12h or '2 days'") from None
    frames = {}
    for split in SPLITS:
        path = folder / f"{split}.parquet"
        if not path.exists():
            raise QueryError(f"task tables folder {folder} lacks {split}.parquet; give train, val and test tables")
        frames[split] = pd.read_parquet(path)
    columns = list(frames["train"].columns)
    parsed = parse(source.query) if source.query else None
    entity = source.entity_col or (parsed.entity_key if parsed else None)
    if entity is None:
        keys = {t.primary_key for t in db.schema.tables.values()}
        entity = next((c for c in columns if c in keys), None)
    time_col = source.time_col or next(
        (c for c in columns if pd.api.types.is_datetime64_any_dtype(frames["train"][c])), None
    )
    label = source.label_col or next((c for c in columns if c not in (entity, time_col)), None)
    for what, name in (("entity", entity), ("time", time_col), ("label", label)):
        if name is None or name not in columns:
            raise QueryError(
                f"task tables in {folder}: cannot find the {what} column among {columns}; "
                f"name it with --{what if what != 'entity' else 'entity'}-col"
            )
    assert entity is not None and time_col is not None and label is not None
    entity_table = parsed.entity_table if parsed else _entity_table_for(db, entity)
    renamed = {
        s: f.rename(columns={time_col: "timestamp", label: "label"})[[entity, "timestamp", "label"]]
        for s, f in frames.items()
    }
    task_type = parsed.task_type if parsed else _task_type_of(renamed["train"]["label"])
    if task_type == "binary":
        for frame in renamed.values():
            frame["label"] = frame["label"].astype("int64")
    return TaskTables(
        task_type,
        entity_table,
        entity,
        renamed["train"],
        renamed["val"],
        renamed["test"],
        query=source.query,
        extra={"label_column": label, "time_column": time_col,
               **({"label_horizon": str(pd.Timedelta(source.label_horizon))} if source.label_horizon else {})},
        parsed=parsed,
    )


def build_run_task(db: Database, source: TaskSource) -> TaskTables:
    """The task of a run: given tables, or the query's tables built by the query layer."""
    if source.task_tables:
        return load_task_tables(db, source)
    if not source.query:
        raise QueryError("give a predictive query with --query, or task tables with --task-tables")
    task = build_task(db, source.query, val_cutoff=source.val_cutoff, test_cutoff=source.test_cutoff)
    if task.extra.get("cutoffs_reason"):
        logger.info("cutoffs: %s", cutoffs_text(task))
    return task


def cutoffs_text(task: TaskTables) -> str | None:
    """The cutoffs of a task built from a query and how they were chosen, one line (None: given tables)."""
    if task.extra.get("val_cutoff") is None:
        return None
    return f"val {task.extra['val_cutoff']}, test {task.extra['test_cutoff']}: {task.extra.get('cutoffs_reason', '')}"


def prediction_rows(db: Database, query: str | None, entity_table: str, entity_key: str, at: pd.Timestamp) -> pd.DataFrame:
    """The entities to predict for at ``at``: rows of the entity table that exist by then
    (static tables: all) and pass the query's WHERE (past-only) condition. ASSUMING is the
    user's assumption about the future window, so it is not applied here."""
    if query:
        parsed = parse(query)
        # Same entity and WHERE, target = the entity's own key: one row per selected entity.
        selector = Query(target=ColumnRef(entity_table, entity_key), entity=parsed.entity, where=parsed.where)
        rows = make_training_table(db, selector, [at])
        return rows[[entity_key, "timestamp"]].reset_index(drop=True)
    keys = db.tables[entity_table].column(entity_key).to_pandas()
    times = db.row_times(entity_table)
    exists = np.ones(len(keys), dtype=bool) if times is None else (~np.isnat(times)) & (times <= np.datetime64(at, "ns"))
    return pd.DataFrame({entity_key: keys[exists].to_numpy(), "timestamp": pd.Timestamp(at)})
