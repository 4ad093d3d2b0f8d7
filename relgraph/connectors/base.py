"""What every connector returns: Arrow tables plus whatever keys the source declares."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass
class DeclaredKeys:
    """Keys and times a source states itself (catalog constraints, RelBench metadata)."""

    primary_keys: dict[str, str] = field(default_factory=dict)  # table -> column
    # table -> [(column, referenced table, referenced column)]
    foreign_keys: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    time_columns: dict[str, str] = field(default_factory=dict)  # table -> column


@dataclass
class SourceData:
    """A source read into memory, column-wise.

    ``source`` is the user's locator with any password removed; ``fingerprint`` is a hash
    of the content (or of file sizes and modification times where hashing is too slow) that
    changes whenever the data does, used as a cache key.
    """

    source: str
    tables: dict[str, pa.Table]
    declared: DeclaredKeys
    fingerprint: str
