"""Schema files: the user's overrides (TOML or YAML, chosen by extension) and ``--write-schema``.

Format (TOML shown; YAML has the same structure). Every key is optional; a table not listed
keeps what relgraph declared or inferred::

    [tables.results]
    primary_key = "resultId"            # or false: the table has no primary key
    # primary_key = ["order_id", "product_id"]   composite key: the pair identifies a row
    time = { inherit_via = "raceId" }   # row time of the parent reached through raceId
    # time = "date"                                  own time column
    # time = { column = "date", time_of_day = "time" }  date column + clock-time column
    # time = false                                   static table (rows always exist)
    # time = { column = "year", month = "month", day = "day" }  a date split over columns
    #                                                (also hour, minute; a bare year: time = "yearID")
    # time = { unknown = true }                      time not known: rows left out of features and sampling
    foreign_keys = [                     # when present, replaces all of the table's foreign keys
      { column = "raceId", references = "races.raceId" },
      # { columns = ["origin", "time_hour"], references = "weather" }   composite reference to
      #   weather's composite key (or give references_columns = [...] naming it)
    ]
    not_foreign_keys = ["grid", ["origin", "time_hour"]]   # never infer these (column or columns) as references

    [tables.results.stypes]             # semantic type per non-key column (see relgraph.schema.SType)
    statusId = "categorical"            # key columns stay "key": keys are never features

    [tables.users]                      # a table relgraph makes from id columns without a table
    implicit = ["ratings.userId", "tags.userId"]   # one row per distinct value, from its first appearance

    [tables.userId]                     # an entity relgraph inferred (see relgraph/schema/entities.py)
    implicit = false                    # is none: ratings.userId stays a plain column

    [tables.customer_id]                # a made table's own columns (flat exports, schema/attributes.py):
    attributes = ["order_lines.customer_name"]   # one value per customer_id; false: all stay on the rows

    [tables.matches]                    # combined from matches_2019.csv, matches_2020.csv, ...
    parts = false                       # read them as separate tables (matches_2019, ...) instead

An implicit table's name must not be a table of the source; its other keys, as ``write_schema``
writes them, must match what relgraph derives (key = the source column's name, or ``id`` when
the columns' names differ; time = ``first_seen``, or none when a source table is static).

``write_schema`` writes every table in this format, with all foreign keys and column
stypes, so the written file reproduces the schema exactly and can be edited.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport
    import tomli as tomllib

from relgraph.errors import SchemaError
from relgraph.schema.model import Schema, SType, TableSchema

TABLE_KEYS = (
    "primary_key", "time", "foreign_keys", "not_foreign_keys", "stypes", "implicit", "attributes", "parts"
)
TIME_KEYS = ("column", "time_of_day", "inherit_via", "month", "day", "hour", "minute", "unknown")
#: Date-part keys of a time split over columns (``column`` holds the year).
PART_KEYS = ("month", "day", "hour", "minute")


@dataclass
class TimeOverride:
    """A table's time as a schema file states it. Nothing set: the table is static."""

    column: str | None = None
    time_of_day: str | None = None
    inherit_via: str | None = None
    parts: dict[str, str] = field(default_factory=dict)  # month/day/hour/minute -> column
    unknown: bool = False


@dataclass
class TableOverride:
    """What a schema file says about one table; None means "not stated, keep inferred"."""

    primary_key: str | list[str] | bool | None = None  # False: no primary key; a list: composite key
    time: TimeOverride | None = None
    foreign_keys: list[tuple[str, str]] | None = None  # (column, "table.column")
    # (columns, referenced table, referenced columns or None for that table's composite key);
    # stated together with ``foreign_keys`` (the same list in the file)
    composite_foreign_keys: list[tuple[list[str], str, list[str] | None]] | None = None
    not_foreign_keys: list[list[str]] = field(default_factory=list)  # columns never inferred as references
    stypes: dict[str, SType] = field(default_factory=dict)
    implicit: list[str] | bool | None = None  # "table.column" sources of a made table; False: make none
    attributes: list[str] | bool | None = None  # "table.column" columns a made table carries; False: none
    parts: bool | None = None  # False: a table combined from several files is read as one table per file


@dataclass
class SchemaOverrides:
    path: str
    tables: dict[str, TableOverride] = field(default_factory=dict)


def closest(name: str, options: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or an empty string."""
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def load_schema_file(path: str | Path) -> SchemaOverrides:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) schema file into overrides.

    Raises:
        SchemaError: unreadable file, unknown extension, or an invalid entry (one line naming it).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SchemaError(f"schema file {path}: cannot read it ({err.strerror})") from err
    try:
        if suffix == ".toml":
            raw = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            raw = yaml.safe_load(text) or {}
        else:
            raise SchemaError(
                f"schema file {path}: use a .toml, .yaml or .yml file, not {suffix or 'no extension'!r}"
            )
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        first_line = str(err).splitlines()[0]
        raise SchemaError(f"schema file {path}: not valid {suffix[1:].upper()}: {first_line}") from err
    if not isinstance(raw, dict) or not isinstance(raw.get("tables", {}), dict):
        raise SchemaError(f"schema file {path}: expected a top-level 'tables' mapping")
    unknown = [k for k in raw if k != "tables"]
    if unknown:
        raise SchemaError(
            f"schema file {path}: unknown top-level key {unknown[0]!r}{closest(unknown[0], ['tables'])}"
        )
    tables = {
        str(name): _parse_table(str(path), str(name), spec) for name, spec in raw.get("tables", {}).items()
    }
    return SchemaOverrides(path=str(path), tables=tables)


def _parse_table(path: str, table: str, spec: Any) -> TableOverride:
    where = f"schema file {path}: tables.{table}"
    if not isinstance(spec, dict):
        raise SchemaError(f"{where}: expected a mapping of {', '.join(TABLE_KEYS)}")
    for key in spec:
        if key not in TABLE_KEYS:
            raise SchemaError(f"{where}: unknown key {key!r}{closest(key, TABLE_KEYS)}")
    out = TableOverride()
    pk = spec.get("primary_key")
    if isinstance(pk, list):
        if len(pk) < 2 or not all(isinstance(c, str) for c in pk) or len(set(pk)) < len(pk):
            raise SchemaError(
                f"{where}.primary_key: a composite key is a list of two or more distinct column names"
            )
    elif pk is not None and not isinstance(pk, str) and pk is not False:
        raise SchemaError(
            f"{where}.primary_key: expected a column name, a list of them, or false, got {pk!r}"
        )
    out.primary_key = pk
    if "time" in spec:
        out.time = _parse_time(where, spec["time"])
    if "foreign_keys" in spec:
        out.foreign_keys, out.composite_foreign_keys = _parse_foreign_keys(where, spec["foreign_keys"])
    not_fks = spec.get("not_foreign_keys", [])
    if not isinstance(not_fks, list):
        raise SchemaError(f"{where}.not_foreign_keys: expected a list of column names (or lists of them)")
    for i, entry in enumerate(not_fks):
        columns = [entry] if isinstance(entry, str) else entry
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise SchemaError(
                f"{where}.not_foreign_keys[{i}]: expected a column name or a list of column names"
            )
        out.not_foreign_keys.append(columns)
    if "implicit" in spec:
        out.implicit = _parse_implicit(where, spec["implicit"])
    if "attributes" in spec:
        out.attributes = _parse_attributes(where, spec["attributes"])
    if "parts" in spec:
        if spec["parts"] is not False or len(spec) > 1:
            raise SchemaError(
                f"{where}.parts: only parts = false, alone, is allowed (the files become tables named by file; "
                "state their keys under those names)"
            )
        out.parts = False
    stypes = spec.get("stypes", {})
    if not isinstance(stypes, dict):
        raise SchemaError(f"{where}.stypes: expected a mapping column -> stype")
    names = [s.value for s in SType]
    for column, value in stypes.items():
        if value not in names:
            raise SchemaError(f"{where}.stypes.{column}: unknown stype {value!r}{closest(str(value), names)}")
        out.stypes[str(column)] = SType(value)
    return out


def _parse_foreign_keys(
    where: str, fks: Any
) -> tuple[list[tuple[str, str]], list[tuple[list[str], str, list[str] | None]]]:
    """``foreign_keys`` entries: single (``column`` + ``"table.column"``) and composite
    (``columns`` + ``"table"``, optional ``references_columns``)."""
    if not isinstance(fks, list):
        raise SchemaError(f"{where}.foreign_keys: expected a list of {{column, references}}")
    single: list[tuple[str, str]] = []
    composite: list[tuple[list[str], str, list[str] | None]] = []
    for i, fk in enumerate(fks):
        if isinstance(fk, dict) and "columns" in fk:
            columns, ref_columns = fk.get("columns"), fk.get("references_columns")
            if (
                not _is_name_list(columns)
                or len(columns) < 2
                or not isinstance(fk.get("references"), str)
                or (
                    ref_columns is not None
                    and (not _is_name_list(ref_columns) or len(ref_columns) != len(columns))
                )
                or set(fk) - {"columns", "references", "references_columns"}
            ):
                raise SchemaError(
                    f'{where}.foreign_keys[{i}]: expected {{ columns = ["a", "b"], references = "table" }} '
                    "(optionally references_columns = a list as long as columns)"
                )
            composite.append((list(columns), fk["references"], list(ref_columns) if ref_columns else None))
            continue
        if (
            not isinstance(fk, dict)
            or not isinstance(fk.get("column"), str)
            or not isinstance(fk.get("references"), str)
            or set(fk) - {"column", "references"}
        ):
            raise SchemaError(
                f'{where}.foreign_keys[{i}]: expected {{ column = "col", references = "table.column" }}'
            )
        single.append((fk["column"], fk["references"]))
    return single, composite


def _is_name_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _parse_implicit(where: str, spec: Any) -> list[str] | bool:
    if spec is False:
        return False
    if (
        not isinstance(spec, list)
        or not spec
        or not all(isinstance(item, str) and "." in item for item in spec)
    ):
        raise SchemaError(
            f'{where}.implicit: expected false or a list of source columns, e.g. ["ratings.userId"]'
        )
    return list(spec)


def _parse_attributes(where: str, spec: Any) -> list[str] | bool:
    if spec is False:
        return False
    if not isinstance(spec, list) or not all(isinstance(item, str) and "." in item for item in spec):
        raise SchemaError(
            f'{where}.attributes: expected false or a list of source columns, e.g. ["order_lines.customer_name"]'
        )
    return list(spec)


def _parse_time(where: str, spec: Any) -> TimeOverride:
    if spec is False:
        return TimeOverride()
    if isinstance(spec, str):
        return TimeOverride(column=spec)
    if isinstance(spec, dict):
        for key in spec:
            if key not in TIME_KEYS:
                raise SchemaError(f"{where}.time: unknown key {key!r}{closest(key, TIME_KEYS)}")
        if "unknown" in spec:
            if spec["unknown"] is not True or len(spec) > 1:
                raise SchemaError(f"{where}.time: write {{ unknown = true }} alone to leave the time unknown")
            return TimeOverride(unknown=True)
        values = {k: spec.get(k) for k in TIME_KEYS if k != "unknown"}
        if any(v is not None and not isinstance(v, str) for v in values.values()):
            raise SchemaError(
                f"{where}.time: column, time_of_day, inherit_via, month, day, hour and minute must be column names"
            )
        if (values["column"] is None) == (values["inherit_via"] is None):
            raise SchemaError(f"{where}.time: give exactly one of 'column' or 'inherit_via'")
        if values["time_of_day"] is not None and values["column"] is None:
            raise SchemaError(f"{where}.time: 'time_of_day' needs a 'column' holding the date")
        parts = {k: values.pop(k) for k in PART_KEYS}
        parts = {k: v for k, v in parts.items() if v is not None}
        if parts and (values["column"] is None or values["time_of_day"] is not None or "month" not in parts):
            raise SchemaError(
                f"{where}.time: a date split over columns needs 'column' (the year) and 'month' "
                "(then day, hour, minute), and no 'time_of_day'"
            )
        return TimeOverride(**values, parts=parts)
    raise SchemaError(
        f'{where}.time: expected "column", false, or {{ column = ..., time_of_day = ... }} / {{ inherit_via = ... }}'
    )


def schema_to_dict(schema: Schema) -> dict[str, Any]:
    """The schema in schema-file structure (what :func:`write_schema` writes)."""
    made = {name for name, t in schema.tables.items() if t.implicit_from}
    return {"tables": {name: _table_to_dict(t, made) for name, t in schema.tables.items()}}


def _table_to_dict(table: TableSchema, made: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    out: dict[str, Any] = {"implicit": list(table.implicit_from)} if table.implicit_from else {}
    if table.implicit_from:  # written even when empty, so a file read back infers none
        out["attributes"] = list(table.attributes)
    out["primary_key"] = table.primary_key or (list(table.composite_key) if table.composite_key else False)
    time = table.time
    if time is None:
        out["time"] = False
    elif time.unknown:
        out["time"] = {"unknown": True}
    elif time.parts:
        out["time"] = {"column": time.column, **time.parts}
    elif time.inherited_via is not None:
        out["time"] = {"inherit_via": time.inherited_via}
    elif time.time_of_day_column is not None:
        out["time"] = {"column": time.column, "time_of_day": time.time_of_day_column}
    else:
        out["time"] = time.column
    out["foreign_keys"] = [
        {"column": fk.column, "references": f"{fk.references_table}.{fk.references_column}"}
        for fk in table.foreign_keys
        if fk.references_table not in made  # stated by the made table's ``implicit`` list
    ] + [
        {
            "columns": fk.columns,
            "references": fk.references_table,
            "references_columns": fk.references_columns,
        }
        for fk in table.composite_foreign_keys
    ]
    out["stypes"] = {c.name: c.stype.value for c in table.columns if c.stype is not SType.KEY}
    return out


def write_schema(schema: Schema, path: str | Path) -> None:
    """Write ``schema`` as a schema file (TOML for ``.toml``, YAML for ``.yaml``/``.yml``)."""
    path = Path(path)
    content = schema_to_dict(schema)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        text = tomli_w.dumps(content)
    elif suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
    else:
        raise SchemaError(
            f"schema file {path}: use a .toml, .yaml or .yml file, not {suffix or 'no extension'!r}"
        )
    path.write_text(text, encoding="utf-8")
