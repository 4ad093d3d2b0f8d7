"""Schema data classes: what relgraph understood of a database.

These are the contract every later layer reads. Inference fills them (``infer.py``);
a schema file (TOML/YAML) overrides them (``io.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class SType(str, Enum):
    """Semantic type of a column: decides how it is encoded, or whether it is a feature at all."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    MULTICATEGORICAL = "multicategorical"
    TEXT = "text"
    TIMESTAMP = "timestamp"
    KEY = "key"  # primary or foreign key: structure, never a feature
    IGNORED = "ignored"  # e.g. constant or all-null columns, audit columns


@dataclass
class Column:
    name: str
    dtype: str  # Arrow type as text, e.g. "int64", "timestamp[us]", "string"
    stype: SType
    evidence: str = ""


@dataclass
class ForeignKey:
    """``table.column`` references ``references_table.references_column``."""

    column: str
    references_table: str
    references_column: str
    inferred: bool = False
    coverage: float = 1.0  # share of non-null values found in the referenced key
    evidence: str = ""
    dangling: int = 0  # non-null values not found in the referenced key (rows)


@dataclass
class CompositeForeignKey:
    """``table.(columns)`` references the composite key ``references_table.(references_columns)``
    (flights (origin, time_hour) -> weather (origin, time_hour))."""

    columns: list[str]
    references_table: str
    references_columns: list[str]
    inferred: bool = False
    coverage: float = 1.0  # share of child rows without nulls whose tuple is found in the referenced key
    evidence: str = ""
    dangling: int = 0

    @property
    def relation(self) -> str:
        """Edge relation name in the graph: the columns joined by ``+`` (``origin+time_hour``)."""
        return "+".join(self.columns)


@dataclass
class RejectedKey:
    """A key or reference inference considered and turned down (shown by ``inspect --verbose``)."""

    table: str
    columns: list[str]
    references: str  # "airports.faa", or "" for a rejected primary key
    coverage: float | None
    reason: str


@dataclass
class TimeInfo:
    """Where a table's row time comes from.

    ``column`` is the table's own time column, or, when ``inherited_via`` is set, the time
    column of the parent reached through the foreign key column ``inherited_via``
    (e.g. results inherits races.date via results.raceId). ``time_of_day_column`` is an
    optional companion column of the table's own date column holding the clock time (Ergast's
    races.time); it is None for inherited times (the parent's TimeInfo names its own).
    ``parts`` maps ``month``/``day``/``hour``/``minute`` to columns when the date is split over
    columns (``column`` then holds the year). ``unknown``: an event table without a trusted
    time; every row time is unknown (NaT), so its rows are left out of features and sampling
    until a schema file gives the time (``column`` is then empty).
    """

    column: str
    inherited_via: str | None = None
    parent_table: str | None = None
    time_of_day_column: str | None = None
    inferred: bool = False
    evidence: str = ""
    parts: dict[str, str] = field(default_factory=dict)
    unknown: bool = False


@dataclass
class TableSchema:
    name: str
    rows: int
    columns: list[Column]
    primary_key: str | None = None
    primary_key_inferred: bool = False
    primary_key_evidence: str = ""
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    time: TimeInfo | None = None  # None: a static table (rows always exist)
    time_evidence: str = ""  # why a table is static (when ``time`` is None), e.g. a birth date skipped
    #: Columns of a multi-column primary key (``primary_key`` is None then): node identity is the tuple.
    composite_key: list[str] | None = None
    composite_foreign_keys: list[CompositeForeignKey] = field(default_factory=list)

    #: ``"table.column"`` sources of a table relgraph made (an entity without a table of its own:
    #: one row per distinct value, from its first appearance; see ``schema/entities.py``); empty
    #: for the source's own tables.
    implicit_from: list[str] = field(default_factory=list)
    #: ``"table.column"`` source columns a made table carries as its own columns: one value per
    #: entity over all rows (a flat export's ``customer_name``; see ``schema/attributes.py``).
    attributes: list[str] = field(default_factory=list)

    @property
    def key_columns(self) -> list[str]:
        """The primary key's columns: one, several (composite) or none."""
        if self.primary_key is not None:
            return [self.primary_key]
        return list(self.composite_key or [])

    @property
    def time_column(self) -> str | None:
        return self.time.column if self.time else None

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass
class Schema:
    tables: dict[str, TableSchema]
    #: Things worth a look that are not errors (dangling keys, audit columns, parents newer than children).
    warnings: list[str] = field(default_factory=list)
    #: Key and reference candidates inference turned down, with why (``inspect --verbose``).
    rejected_keys: list[RejectedKey] = field(default_factory=list)

    def __getitem__(self, name: str) -> TableSchema:
        return self.tables[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    @property
    def table_names(self) -> list[str]:
        return list(self.tables)

    def edges(self) -> list[tuple[str, ForeignKey]]:
        """All foreign keys as (child table, fk)."""
        return [(t.name, fk) for t in self.tables.values() for fk in t.foreign_keys]

    def composite_edges(self) -> list[tuple[str, CompositeForeignKey]]:
        """All composite foreign keys as (child table, fk)."""
        return [(t.name, fk) for t in self.tables.values() for fk in t.composite_foreign_keys]
