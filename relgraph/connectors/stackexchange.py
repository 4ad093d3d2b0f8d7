"""Stack Exchange data dumps: a folder of ``Users.xml``, ``Posts.xml``, … with one ``<row …/>`` per record.

Each file is one table named by its stem; each attribute is a column and an absent attribute
is null. Values are typed column-wise in Arrow (ids and counts int64, ``…Date`` timestamps,
``True``/``False`` booleans); free-text columns stay strings. Keys and times follow the Stack
Exchange schema, except ``Posts.LastEditorUserId``: the last edit may come after any prediction
time, so it is declared a snapshot column (as are scores and counts to date), never a link or a
feature. Parsing XML is per element (``xml.etree`` iterparse), so the typed tables are
cached as Parquet under ``$RELGRAPH_CACHE_DIR`` (default ``~/.cache/relgraph``), keyed by the
files' names, sizes and modification times: the second read only loads Parquet.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.connectors.base import (
    DeclaredKeys,
    SourceData,
    fingerprint_files,
    fingerprint_tables,
    narrowest_type,
)
from relgraph.errors import SourceError

#: Tables of the public Stack Exchange dump (file stems).
DUMP_TABLES = ("Badges", "Comments", "PostHistory", "PostLinks", "Posts", "Tags", "Users", "Votes")
#: Primary key of every dump table.
PRIMARY_KEY = "Id"
#: (table, column, referenced table) of the Stack Exchange schema; the referenced column is its Id.
FOREIGN_KEYS = (
    ("Posts", "OwnerUserId", "Users"),
    ("Posts", "ParentId", "Posts"),
    ("Posts", "AcceptedAnswerId", "Posts"),
    ("Comments", "PostId", "Posts"),
    ("Comments", "UserId", "Users"),
    ("Votes", "PostId", "Posts"),
    ("Votes", "UserId", "Users"),
    ("Badges", "UserId", "Users"),
    ("PostHistory", "PostId", "Posts"),
    ("PostHistory", "UserId", "Users"),
    ("PostLinks", "PostId", "Posts"),
    ("PostLinks", "RelatedPostId", "Posts"),
    ("Tags", "ExcerptPostId", "Posts"),
    ("Tags", "WikiPostId", "Posts"),
)
#: Columns holding the dump-time value (export date), not the value at the row's time.
SNAPSHOT_COLUMNS = {
    "Users": ("Reputation", "Views", "UpVotes", "DownVotes"),
    "Posts": (
        "Score",
        "ViewCount",
        "AnswerCount",
        "CommentCount",
        "FavoriteCount",
        "LastEditorUserId",
        "LastEditorDisplayName",
    ),
    "Comments": ("Score",),
    "Tags": ("Count",),
}
SNAPSHOT_REASON = "a Stack Exchange dump value as of the export date, not of the row's time"
#: Row time of each timed table (Tags is static).
TIME_COLUMNS = {
    "Users": "CreationDate",
    "Posts": "CreationDate",
    "Comments": "CreationDate",
    "Votes": "CreationDate",
    "Badges": "Date",
    "PostHistory": "CreationDate",
    "PostLinks": "CreationDate",
}
#: Free-text columns: kept as strings even when every value happens to look like a number.
TEXT_COLUMNS = frozenset(
    {
        "AboutMe",
        "Body",
        "Comment",
        "ContentLicense",
        "DisplayName",
        "Location",
        "Name",
        "OwnerDisplayName",
        "LastEditorDisplayName",
        "RevisionGUID",
        "TagName",
        "Tags",
        "Text",
        "Title",
        "UserDisplayName",
        "WebsiteUrl",
    }
)
_CACHE_FORMAT = "stackexchange-v1"


def is_dump(folder: Path) -> bool:
    """Whether ``folder`` holds a Stack Exchange dump (``Posts.xml`` or ``Users.xml`` …)."""
    return any((folder / f"{name}.xml").is_file() for name in DUMP_TABLES)


def cache_root() -> Path:
    """Where relgraph caches converted sources: ``$RELGRAPH_CACHE_DIR`` or ``~/.cache/relgraph``."""
    return Path(os.environ.get("RELGRAPH_CACHE_DIR") or Path.home() / ".cache" / "relgraph")


def read_dump(folder: Path, source: str) -> SourceData:
    """Every ``*.xml`` file of a dump folder as a typed table, with the Stack Exchange keys and times.

    Args:
        folder: the dump folder (``Users.xml``, ``Posts.xml``, …; other ``<row/>`` files are read too).
        source: the locator to report.

    Raises:
        SourceError: an XML file that does not parse (file and line named).
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".xml")
    cache = cache_root() / _CACHE_FORMAT / fingerprint_files(files)
    tables = _load_cache(cache, [p.stem for p in files])
    if tables is None:
        tables = {path.stem: parse_rows(path) for path in files}
        _write_cache(cache, tables)
    declared = dump_keys(tables)
    return SourceData(source, tables, declared, fingerprint_tables(tables, declared))


def parse_rows(path: Path) -> pa.Table:
    """One dump file's ``<row …/>`` elements as a table: attributes are columns, typed column-wise."""
    rows: list[dict[str, str]] = []
    names: dict[str, None] = {}  # attribute names in order of first appearance
    try:
        for _, element in ET.iterparse(path, events=("end",)):
            if element.tag == "row":
                rows.append(dict(element.attrib))
                names.update(dict.fromkeys(element.attrib))
                element.clear()
    except ET.ParseError as err:
        raise SourceError(f"cannot parse Stack Exchange XML file {path}: {err}") from err
    text = pa.Table.from_pylist(rows, schema=pa.schema([(name, pa.string()) for name in names]))
    columns = [col if name in TEXT_COLUMNS else narrowest_type(col) for name, col in zip(names, text.columns)]
    return pa.table(columns, names=list(names))


def dump_keys(tables: dict[str, pa.Table]) -> DeclaredKeys:
    """The Stack Exchange schema's keys and times, for the tables and columns present."""
    declared = DeclaredKeys()
    for name, table in tables.items():
        if name in DUMP_TABLES and PRIMARY_KEY in table.column_names:
            declared.primary_keys[name] = PRIMARY_KEY
        if name in TIME_COLUMNS and TIME_COLUMNS[name] in table.column_names:
            declared.time_columns[name] = TIME_COLUMNS[name]
    for name, columns in SNAPSHOT_COLUMNS.items():
        present = [c for c in columns if name in tables and c in tables[name].column_names]
        if present:
            declared.snapshot_columns[name] = dict.fromkeys(present, SNAPSHOT_REASON)
    for name, column, parent in FOREIGN_KEYS:
        if name in tables and column in tables[name].column_names and parent in declared.primary_keys:
            declared.foreign_keys.setdefault(name, []).append((column, parent, PRIMARY_KEY))
    return declared


def _load_cache(cache: Path, names: list[str]) -> dict[str, pa.Table] | None:
    if not all((cache / f"{name}.parquet").is_file() for name in names):
        return None
    try:
        return {name: pq.read_table(cache / f"{name}.parquet") for name in names}
    except (OSError, pa.ArrowException):
        return None  # a damaged cache is rebuilt, never trusted


def _write_cache(cache: Path, tables: dict[str, pa.Table]) -> None:
    """Write all tables into a temporary folder, then rename it into place (readers never see half)."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache.parent))
        for name, table in tables.items():
            pq.write_table(table, staging / f"{name}.parquet")
        try:
            staging.rename(cache)
        except OSError:  # another process cached the same dump first
            shutil.rmtree(staging, ignore_errors=True)
    except OSError:
        return  # an unwritable cache only costs speed
