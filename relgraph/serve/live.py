"""The live database behind the service: opened like ``relgraph predict`` opens it, re-opened when
the source changes, so rows added since training (or since the last request) are used without
retraining. Reading only: the source is opened read-only by its connector and never written.

Change detection: file sources (SQLite, DuckDB, a folder of CSV / Parquet files) by the size and
modification time of their files (a ``stat`` per request, microseconds); database servers by
re-reading every ``refresh_s`` seconds and keeping the old object when the content fingerprint is
the same (models cache graphs and features per Database object, so an unchanged source stays warm).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from relgraph.database import Database, connect
from relgraph.runs.folder import RunFolder

logger = logging.getLogger(__name__)


def source_files(source: str) -> list[Path] | None:
    """The files whose change means the source changed; None for a database server."""
    for prefix in ("sqlite:///", "duckdb:///"):
        if source.startswith(prefix):
            path = Path(source[len(prefix):].split("?", 1)[0])
            return [path, Path(f"{path}-wal"), Path(f"{path}-journal"), Path(f"{path}.wal")]
    path = Path(source)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.exists():
        return [path]
    return None


def _stamp(files: list[Path]) -> tuple[Any, ...]:
    out = []
    for f in files:
        try:
            st = f.stat()
            out.append((str(f), st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append((str(f), None, None))
    return tuple(out)


class LiveDatabase:
    """``get()`` -> the current :class:`Database` for a run (re-opened when the source changed);
    without a run (a service answering ``/ask`` only), the source as ``relgraph.connect`` opens it."""

    def __init__(self, run: RunFolder | None, source: str, schema: str | None = None, refresh_s: float = 30.0) -> None:
        self.run = run
        self.source = source
        self.schema = schema
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._db: Database | None = None
        self._stamp: tuple[Any, ...] | None = None
        self._opened_at = 0.0
        self.reloads = 0

    def _changed(self) -> bool:
        files = source_files(self.source)
        if files is not None:
            stamp = _stamp(files)
            return stamp != self._stamp
        return time.monotonic() - self._opened_at > self.refresh_s

    def get(self) -> Database:
        """The database as it is now; raises ``ModelError`` when its schema no longer matches the run."""
        with self._lock:
            if self._db is None or self._changed():
                files = source_files(self.source)
                stamp = _stamp(files) if files is not None else None
                if self.run is None:
                    db = connect(self.source, schema=self.schema)
                else:
                    db = self.run.connect(self.source, self.schema)
                    self.run.check_schema(db)
                if self._db is None or db.fingerprint != self._db.fingerprint:
                    if self._db is not None:
                        logger.info("source changed: re-opened %s", self.source)
                    self._db = db
                    self.reloads += 1
                self._stamp, self._opened_at = stamp, time.monotonic()
            return self._db
