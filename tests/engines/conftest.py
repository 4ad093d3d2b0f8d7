"""Spark-engine fixtures: one local[2] SparkSession per test session, skipped without pyspark or java."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# make_db (hand-written schemas) lives with the query tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "query"))


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The process's SparkSession (local[2], 2 shuffle partitions); skips when Spark cannot run."""
    try:
        import pyspark  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError as err:
        pytest.skip(f"pyspark / sqlglot not installed ({err.name}): pip install 'relgraph[spark]'")
    if shutil.which("java") is None:
        pytest.skip("java not found (the spark engine needs Java 17+)")
    from relgraph.engines.spark_engine import spark_session

    session = spark_session("local[2]", {"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
