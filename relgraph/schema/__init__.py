"""Schema layer: what relgraph understood of a database (keys, times, semantic types).

``build_schema(data, schema_file=None)`` infers it; ``load_schema_file`` / ``write_schema`` read
and write the TOML/YAML override format documented in :mod:`relgraph.schema.io`.
"""

from relgraph.schema.infer import build_schema
from relgraph.schema.io import load_schema_file, schema_to_dict, write_schema
from relgraph.schema.model import (
    Column,
    CompositeForeignKey,
    ForeignKey,
    RejectedKey,
    Schema,
    SType,
    TableSchema,
    TimeInfo,
)

__all__ = [
    "Column",
    "CompositeForeignKey",
    "ForeignKey",
    "RejectedKey",
    "Schema",
    "SType",
    "TableSchema",
    "TimeInfo",
    "build_schema",
    "load_schema_file",
    "schema_to_dict",
    "write_schema",
]
