"""Tiny hand-built databases for the graph tests (Database built from Arrow tables + a Schema)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pyarrow as pa
import pytest

from relgraph.connectors.base import DeclaredKeys, SourceData
from relgraph.database import Database
from relgraph.schema.model import Column, ForeignKey, Schema, SType, TableSchema, TimeInfo

# (table, column) -> stype; columns not listed are inferred: "id"/"*_id" keys, timestamps, else numerical.
TableSpec = dict[str, object]


def _stype(name: str, arr: pa.ChunkedArray, stypes: dict[str, SType], keys: set[str]) -> SType:
    if name in stypes:
        return stypes[name]
    if name in keys:
        return SType.KEY
    if pa.types.is_timestamp(arr.type):
        return SType.TIMESTAMP
    if pa.types.is_string(arr.type):
        return SType.CATEGORICAL
    return SType.NUMERICAL


def make_database(
    tables: dict[str, pa.Table],
    primary_keys: dict[str, str] | None = None,
    foreign_keys: dict[str, list[tuple[str, str, str]]] | None = None,
    times: dict[str, TimeInfo] | None = None,
    stypes: dict[str, dict[str, SType]] | None = None,
) -> Database:
    """A ``Database`` over in-memory tables; fingerprint hashes the content (as a connector would)."""
    primary_keys = primary_keys or {}
    foreign_keys = foreign_keys or {}
    times = times or {}
    stypes = stypes or {}
    schemas = {}
    for name, table in tables.items():
        fks = [ForeignKey(col, ref, ref_col) for col, ref, ref_col in foreign_keys.get(name, [])]
        keys = {fk.column for fk in fks} | ({primary_keys[name]} if name in primary_keys else set())
        columns = [
            Column(c, str(table.schema.field(c).type), _stype(c, table.column(c), stypes.get(name, {}), keys))
            for c in table.column_names
        ]
        schemas[name] = TableSchema(
            name=name,
            rows=table.num_rows,
            columns=columns,
            primary_key=primary_keys.get(name),
            foreign_keys=fks,
            time=times.get(name),
        )
    digest = hashlib.sha256()
    for name, table in tables.items():
        digest.update(name.encode())
        for batch in table.to_batches():
            for col in batch.columns:
                for buf in col.buffers():
                    if buf is not None:
                        digest.update(buf)
    data = SourceData("memory://test", tables, DeclaredKeys(primary_keys, foreign_keys), digest.hexdigest())
    return Database(data, Schema(schemas))


@pytest.fixture
def database_factory() -> Callable[..., Database]:
    return make_database
