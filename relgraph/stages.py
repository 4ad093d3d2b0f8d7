"""Where a run's time goes: named stages, each timed, with the rows it handled and a progress bar.

A run activates one :class:`StageRecorder` (``with recorder:``); any code below it, in any layer,
marks its work with :func:`stage`, without the recorder being passed down::

    with stage("lightgbm configurations", rows=len(x_train), total=7, unit="config") as st:
        for variant in variants:
            ...
            st.advance()

Each stage closing writes one ``relgraph.stages`` log line (``train.log``: seconds, rows and the
process's peak memory so far: the first stage whose peak is the run's is where the memory went).
A stage opened inside another counts its seconds once: the outer stage records its own time
only, so the stages of a run add up to its wall time without overlap. Without an active recorder a
stage only times itself (and shows its bar when asked to). Stages opened in other threads see no
recorder (context variables do not cross threads): only the calling thread's stages are recorded,
unless that thread runs inside :meth:`StageRecorder.beside` (work running beside the run's own
stages, e.g. the GNN's epochs while LightGBM trains): those are kept as a lane of their own, whose
seconds overlap the run's (CPU seconds are the process's, so both lanes count the overlap).
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

_ACTIVE: contextvars.ContextVar[StageRecorder | None] = contextvars.ContextVar("relgraph_stages", default=None)


@dataclass
class StageRecord:
    """One closed stage: its own wall and CPU seconds (nested stages' excluded; CPU: every thread
    of the process, so a loaded machine's wait shows as wall above CPU) and the rows it handled."""

    name: str
    seconds: float
    rows: int | None = None
    cpu_seconds: float = 0.0
    beside: str | None = None  # the lane it ran in beside the run's own stages (None: the run's own)
    peak_gib: float = 0.0  # the process's peak resident memory when it closed (every lane's)


def peak_gib() -> float:
    """The process's peak resident memory so far, GiB (``ru_maxrss``: KiB on Linux, bytes on macOS;
    0 where the platform has no ``resource`` module)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20


class Stage:
    """An open stage: set ``rows`` when known late; :meth:`advance` moves its progress bar."""

    def __init__(self, name: str, rows: int | None, bar: Any | None) -> None:
        self.name = name
        self.rows = rows
        self.bar = bar
        self.started = time.perf_counter()
        self.started_cpu = time.process_time()
        self.nested_seconds = 0.0
        self.nested_cpu = 0.0

    def advance(self, steps: int = 1, **postfix: Any) -> None:
        """``steps`` more units done; ``postfix`` (e.g. ``loss="0.41"``) is shown beside the bar."""
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(steps)


class StageRecorder:
    """The stages of one run, in the order they closed.

    Args:
        progress: show a progress bar per stage on stderr (the CLI without ``--quiet``).
    """

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress
        self.records: list[StageRecord] = []
        self.started = time.perf_counter()
        self.started_cpu = time.process_time()
        self._open: list[Stage] = []
        self._token: contextvars.Token[StageRecorder | None] | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> StageRecorder:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None

    @contextmanager
    def beside(self, lane: str) -> Iterator[StageRecorder]:
        """In another thread: its stages, recorded as lane ``lane`` running beside this recorder's
        own stages (kept apart in :meth:`summary`: their seconds overlap the run's)."""
        with StageRecorder(progress=self.progress) as child:
            try:
                yield child
            finally:
                with self._lock:
                    self.records += [dataclasses.replace(r, beside=lane) for r in child.records]

    def wall_seconds(self) -> float:
        """Seconds since the recorder was made."""
        return time.perf_counter() - self.started

    def cpu_seconds(self) -> float:
        """CPU seconds of the process (all threads) since the recorder was made."""
        return time.process_time() - self.started_cpu

    def summary(self) -> dict[str, dict[str, Any]]:
        """Stage name -> ``{"seconds", "cpu_seconds", "rows", "calls", "peak_gib"}`` (a stage that ran
        several times: summed; its largest peak), in the order each first closed; ``other``: the time no stage covers. A stage
        of a lane beside the run's (:meth:`beside`) has ``"beside": lane`` (and the name
        ``"<name> (<lane>)"`` where the run has a stage of its own by that name), and is left out of
        ``other``: the run's own stages and ``other`` add up to its wall time."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            records = list(self.records)
        own_names = {r.name for r in records if r.beside is None}
        for record in records:
            # A lane's stage named as one of the run's own (the GNN lane's "predictions") stays apart.
            name = f"{record.name} ({record.beside})" if record.beside is not None and record.name in own_names else record.name
            entry = out.setdefault(name, {"seconds": 0.0, "cpu_seconds": 0.0, "rows": None, "calls": 0, "peak_gib": 0.0})
            entry["peak_gib"] = max(entry["peak_gib"], round(record.peak_gib, 3))
            entry["seconds"] += record.seconds
            entry["cpu_seconds"] += record.cpu_seconds
            entry["calls"] += 1
            if record.rows is not None:
                entry["rows"] = (entry["rows"] or 0) + int(record.rows)
            if record.beside is not None:
                entry["beside"] = record.beside
        own = [r for r in records if r.beside is None]
        out["other"] = {"seconds": max(0.0, self.wall_seconds() - sum(r.seconds for r in own)),
                        "cpu_seconds": max(0.0, self.cpu_seconds() - sum(r.cpu_seconds for r in own)),
                        "rows": None, "calls": 1, "peak_gib": round(peak_gib(), 3)}
        for entry in out.values():
            entry["seconds"] = round(entry["seconds"], 3)
            entry["cpu_seconds"] = round(entry["cpu_seconds"], 3)
        return out


def active_recorder() -> StageRecorder | None:
    """The recorder of the run in progress in this thread, if any."""
    return _ACTIVE.get()


@contextmanager
def stage(name: str, rows: int | None = None, total: int | None = None, unit: str = "step",
          show: bool | None = None) -> Iterator[Stage]:
    """Time the block as stage ``name`` (see the module docstring).

    Args:
        rows: rows the stage handles (training rows, frame rows, nodes); settable on the stage.
        total: steps the stage will take (configurations, epochs): its bar then shows an estimate
            of the time left.
        unit: what a step is, for the bar.
        show: ``None``: a bar when the active recorder shows progress; ``False``: never; ``True``:
            a bar unless the active recorder is quiet.
    """
    recorder = _ACTIVE.get()
    shown = (recorder is not None and recorder.progress) if show is None else (show and (recorder is None or recorder.progress))
    bar = None
    if shown:
        # Without a total the bar is a timer: the stage's name and the seconds it took.
        fmt = None if total else "{desc}: {elapsed}{postfix}"
        bar = tqdm(total=total, desc=name, unit=unit, leave=True, bar_format=fmt, dynamic_ncols=True)
    current = Stage(name, rows, bar)
    if recorder is not None:
        recorder._open.append(current)
    try:
        yield current
    finally:
        elapsed = time.perf_counter() - current.started
        elapsed_cpu = time.process_time() - current.started_cpu
        own = max(0.0, elapsed - current.nested_seconds)
        own_cpu = max(0.0, elapsed_cpu - current.nested_cpu)
        peak = peak_gib()
        if bar is not None:
            bar.close()
        if recorder is not None:
            recorder._open.remove(current)
            if recorder._open:
                recorder._open[-1].nested_seconds += elapsed
                recorder._open[-1].nested_cpu += elapsed_cpu
            recorder.records.append(StageRecord(name, own, current.rows, own_cpu, peak_gib=peak))
        rows_text = f", {current.rows:,} rows" if current.rows is not None else ""
        nested_text = f"; {elapsed:.1f} s with the stages inside it" if current.nested_seconds else ""
        logger.info("stage %s: %.1f s (CPU %.1f s%s)%s, peak %.2f GiB", name, own, own_cpu, nested_text, rows_text, peak)
