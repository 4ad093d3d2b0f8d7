"""Query-test fixtures: tiny hand-declared databases and the rel-f1 / f1 databases."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import relgraph
from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import Database
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo


def make_db(
    tables: dict[str, pd.DataFrame],
    primary_keys: dict[str, str],
    foreign_keys: dict[str, list[tuple[str, str, str]]] | None = None,
    time_columns: dict[str, str] | None = None,
    categorical: tuple[tuple[str, str], ...] = (),
) -> Database:
    """A Database over in-memory frames with a hand-written schema (no inference involved).

    ``categorical``: ``(table, column)`` pairs whose stype is CATEGORICAL even when numeric.
    """
    foreign_keys = foreign_keys or {}
    time_columns = time_columns or {}
    arrow = {name: pa.Table.from_pandas(frame, preserve_index=False) for name, frame in tables.items()}
    schema_tables = {}
    for name, table in arrow.items():
        keys = {primary_keys.get(name)} | {fk[0] for fk in foreign_keys.get(name, [])}
        columns = []
        for field in table.schema:
            if field.name in keys:
                stype = SType.KEY
            elif field.name == time_columns.get(name):
                stype = SType.TIMESTAMP
            elif (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)) and (
                (name, field.name) not in categorical
            ):
                stype = SType.NUMERICAL
            else:
                stype = SType.CATEGORICAL
            columns.append(Column(field.name, str(field.type), stype))
        schema_tables[name] = TableSchema(
            name=name,
            rows=table.num_rows,
            columns=columns,
            primary_key=primary_keys.get(name),
            foreign_keys=[ForeignKey(c, t, rc) for c, t, rc in foreign_keys.get(name, [])],
            time=TimeInfo(time_columns[name]) if name in time_columns else None,
        )
    declared = DeclaredKeys(dict(primary_keys), dict(foreign_keys), dict(time_columns))
    return Database(SourceData("memory://test", arrow, declared, "test"), Schema(schema_tables))


@pytest.fixture(scope="session")
def rel_f1_dir(shared_datasets: Path) -> Path:
    path = shared_datasets / "rel-f1"
    if not (path / "db").is_dir():
        pytest.skip("rel-f1 not found")
    return path


@pytest.fixture(scope="session")
def rel_f1(rel_f1_dir: Path) -> Database:
    return relgraph.connect(rel_f1_dir / "db")


@pytest.fixture(scope="session")
def f1(shared_datasets: Path) -> Database:
    return relgraph.connect(shared_datasets / "f1")
