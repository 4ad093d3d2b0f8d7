"""``--engine``, ``--spark-master`` and ``--spark-conf``, shared by ``relgraph query`` and ``relgraph train``."""

from __future__ import annotations

import argparse

from relgraph.errors import QueryError


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
    parser.add_argument(
        "--spark-conf",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a Spark setting with --engine spark, repeatable (e.g. spark.driver.memory=16g; the default "
        "driver memory is a third of this machine's)",
    )


def connect_options(args: argparse.Namespace) -> dict[str, object]:
    """``engine`` / ``spark_master`` / ``spark_conf`` keyword arguments for :func:`relgraph.connect`
    from parsed ``args``."""
    engine = getattr(args, "engine", "duckdb") or "duckdb"
    conf: dict[str, str] = {}
    for item in getattr(args, "spark_conf", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise QueryError(f"--spark-conf {item!r}: write KEY=VALUE, e.g. --spark-conf spark.driver.memory=16g")
        conf[key.strip()] = value.strip()
    return {
        "engine": engine,
        "spark_master": getattr(args, "spark_master", None) if engine == "spark" else None,
        "spark_conf": conf if engine == "spark" and conf else None,
    }
