"""``--engine`` and ``--spark-master``, shared by ``relgraph query`` and ``relgraph train``."""

from __future__ import annotations

import argparse


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine {duckdb,spark}`` and ``--spark-master URL`` to ``parser``."""
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="where the training-table SQL runs: duckdb (default, embedded, in process) | spark "
        "(Apache Spark through PySpark 4, for data beyond one machine; needs Java 17+ and "
        "pip install 'relgraph[spark]'; same rows as duckdb)",
    )
    parser.add_argument(
        "--spark-master",
        metavar="URL",
        default="local[2]",
        help="Spark master with --engine spark: local[N] (default local[2]: in process, N cores), "
        "spark://host:7077, yarn, k8s://... (tables are staged as Parquet under .relgraph_cache/spark/)",
    )


def connect_options(args: argparse.Namespace) -> dict[str, str | None]:
    """``engine`` / ``spark_master`` keyword arguments for :func:`relgraph.connect` from parsed ``args``."""
    engine = getattr(args, "engine", "duckdb") or "duckdb"
    return {
        "engine": engine,
        "spark_master": getattr(args, "spark_master", None) if engine == "spark" else None,
    }
