"""Helpers for schema tests: tiny in-memory sources built from Python lists."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from relgraph.connectors.base import DeclaredKeys, SourceData


def make_source(tables: dict[str, dict[str, Any]], declared: DeclaredKeys | None = None) -> SourceData:
    """``{"table": {"column": values}}`` (lists or Arrow arrays) as a SourceData."""
    arrow = {name: pa.table(columns) for name, columns in tables.items()}
    return SourceData("memory", arrow, declared or DeclaredKeys(), "test")


@pytest.fixture
def source_factory():
    return make_source
