"""Training runs started from the workspace: each one is ``relgraph train`` in its own process (the
same code path as the CLI; a process, so cancelling stops it at once and a crash never takes the
page down), its output read line by line as progress, its folder new and unique under the runs
folder (two runs never write the same folder).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

#: Model kinds the Runs view offers (``relgraph train --model``).
MODELS = ("auto", "lightgbm", "gnn", "blend", "hybrid")
#: Lines of output kept per job.
KEEP_LINES = 200
_BAR = re.compile(r"[▏▕█]|\d+%\|")
_LOG_PREFIX = re.compile(r"^\S+ \S+ [A-Z]+ relgraph\.\S+: ")


@dataclass
class TrainJob:
    """One ``relgraph train`` process: ``state`` is ``running``, ``finished``, ``failed`` or ``cancelled``."""

    id: str
    query: str
    model: str
    out_dir: Path
    command: list[str]
    started: float = field(default_factory=time.time)
    state: str = "running"
    lines: list[str] = field(default_factory=list)
    progress: str = ""
    ended: float | None = None
    process: subprocess.Popen | None = None

    def log_lines(self, last: int = 6) -> list[str]:
        """The run's latest ``train.log`` lines (stages: graph, features, epochs, configurations, models),
        without their time and logger prefix, each cut to 200 characters."""
        try:
            text = (self.out_dir / "train.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [_LOG_PREFIX.sub("", line)[:200] for line in text.splitlines()[-last:]]

    @property
    def stage(self) -> str:
        """The latest stage the run logged, else its latest output line."""
        logged = self.log_lines(1)
        return logged[-1] if logged else (self.lines[-1] if self.lines else "starting")

    @property
    def error(self) -> str | None:
        """The run's one-line error (``relgraph: error: ...``) when it failed."""
        if self.state != "failed":
            return None
        found = [line for line in self.lines if line.startswith("relgraph: error:")]
        return found[-1] if found else (self.lines[-1] if self.lines else "the run stopped")

    @property
    def seconds(self) -> float:
        return round((self.ended or time.time()) - self.started, 1)


def new_run_dir(runs_dir: Path, model: str) -> Path:
    """A folder that did not exist, made now (``mkdir`` without ``exist_ok``: no two runs share one)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = runs_dir / (f"{stamp}-{model}" + (f"-{n}" if n else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder name under {runs_dir}")


class TrainJobs:
    """The workspace's training runs: ``start`` one, read its progress, ``cancel`` it."""

    def __init__(self, source: str, runs_dir: Path, schema: str | None = None) -> None:
        self.source, self.runs_dir, self.schema = source, Path(runs_dir), schema
        self.jobs: dict[str, TrainJob] = {}
        self._lock = threading.Lock()

    def start(self, query: str, model: str = "auto", epochs: int | None = None) -> TrainJob:
        """Start ``relgraph train SOURCE --query QUERY --model MODEL --out <new folder>`` in the background."""
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        out_dir = new_run_dir(self.runs_dir, model)
        command = [sys.executable, "-m", "relgraph.cli.main", "train", self.source, "--query", query,
                   "--model", model, "--out", str(out_dir)]
        if epochs is not None:
            command += ["--epochs", str(epochs)]
        if self.schema:
            command += ["--schema", self.schema]
        job = TrainJob(out_dir.name, query, model, out_dir, command)
        job.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, bufsize=0)
        with self._lock:
            self.jobs[job.id] = job
        threading.Thread(target=self._follow, args=(job,), daemon=True, name=f"train-{job.id}").start()
        return job

    def _follow(self, job: TrainJob) -> None:
        """Read the process's output: progress bars (``\\r``) update ``progress``, lines are kept."""
        assert job.process is not None and job.process.stdout is not None
        pending = b""
        while True:
            chunk = job.process.stdout.read(4096)
            if not chunk:
                break
            pending += chunk
            parts = re.split(rb"[\r\n]", pending)
            pending = parts.pop()
            for raw in parts:
                self._take(job, raw.decode("utf-8", "replace").strip())
        self._take(job, pending.decode("utf-8", "replace").strip())
        code = job.process.wait()
        job.ended = time.time()
        if job.state == "running":
            job.state = "finished" if code == 0 else "failed"

    @staticmethod
    def _take(job: TrainJob, line: str) -> None:
        if not line:
            return
        if _BAR.search(line):
            job.progress = line
            return
        job.lines.append(line)
        del job.lines[:-KEEP_LINES]

    def cancel(self, job_id: str) -> TrainJob:
        """Stop a running job (its folder stays, marked by ``state`` ``cancelled``)."""
        job = self.get(job_id)
        if job.state == "running" and job.process is not None:
            job.state = "cancelled"
            job.process.terminate()
            try:
                job.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                job.process.kill()
        return job

    def get(self, job_id: str) -> TrainJob:
        with self._lock:
            if job_id not in self.jobs:
                raise KeyError(job_id)
            return self.jobs[job_id]

    def listed(self) -> list[TrainJob]:
        with self._lock:
            return sorted(self.jobs.values(), key=lambda j: j.started, reverse=True)

    def shutdown(self) -> None:
        """Stop every running job (the workspace is closing)."""
        for job in self.listed():
            self.cancel(job.id)
