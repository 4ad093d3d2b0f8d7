"""A run folder is never replaced without a word: what ``relgraph train --out DIR`` and
``relgraph.train(out=...)`` do when DIR already holds a run, and ``Run.save(dir)`` likewise.

Each run writes ``request.json`` (the database, task, model, seed and configuration asked for)
once its task is built. Training into a folder that holds a run then:

- replaces it with ``overwrite`` (only the run's own files and model folders are removed);
- resumes it when it is unfinished (no ``config.json`` yet) and its request is this one (the GNN
  continues from its last epoch checkpoint);
- else stops with one line saying what differs, or that the run there is finished.

Settings that change how a run computes, not what (threads, workers, graph storage, cache
folder), may differ on resume.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from relgraph.errors import ModelError
from relgraph.runs.folder import CONFIG_FILE
from relgraph.runs.tasks import TaskSource

REQUEST_FILE = "request.json"
#: Folders of trained models in a run folder (``runner.MODEL_KINDS`` less ``auto``).
MODEL_FOLDERS = ("gnn", "lightgbm", "blend", "hybrid")
#: Files a run writes (besides its model folders); ``overwrite`` removes these and nothing else.
RUN_FILES = (CONFIG_FILE, REQUEST_FILE, "metrics.json", "predictions.parquet", "report.html", "train.log",
             "query.pql", "schema.toml")
#: Files or folders whose presence says a folder holds a run (finished or not).
RUN_MARKERS = (CONFIG_FILE, REQUEST_FILE, "metrics.json", *MODEL_FOLDERS)
#: GNN settings that change how a run computes, not what it computes: they may differ on resume.
RUNTIME_ONLY = ("num_threads", "workers", "graph", "graph_cache_dir")


def run_request(
    database: str, source: TaskSource, model: str, seed: int, gnn_config: Any, schema_file: str | None,
    label_context: bool, engine: str,
) -> dict[str, Any]:
    """What a run is asked for, as stored in ``request.json`` (JSON values only)."""
    gnn = None
    if gnn_config is not None and model != "lightgbm":
        gnn = {k: v for k, v in dataclasses.asdict(gnn_config).items() if k not in RUNTIME_ONLY}
    request = {
        "database": database, "task": dataclasses.asdict(source), "model": model, "seed": seed, "gnn": gnn,
        "schema_file": schema_file, "label_context": label_context, "engine": engine,
    }
    return json.loads(json.dumps(request, default=str))


def holds_run(directory: Path) -> bool:
    """Whether ``directory`` holds a run folder, finished or not."""
    return any((Path(directory) / name).exists() for name in RUN_MARKERS)


def remove_run(directory: Path) -> None:
    """Remove the run in ``directory``: its files and model folders only, never anything else there."""
    directory = Path(directory)
    for name in RUN_FILES:
        (directory / name).unlink(missing_ok=True)
    for name in MODEL_FOLDERS:
        if (directory / name).is_dir():
            shutil.rmtree(directory / name)


def differences(stored: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """Names of the settings that differ between two requests (``task.query``, ``gnn.epochs``, ...)."""
    names = []
    for key in sorted(set(stored) | set(wanted)):
        a, b = stored.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            names += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            names.append(f"{prefix}{key}")
    return names


def prepare_run_folder(directory: Path, request: dict[str, Any], overwrite: bool) -> str:
    """Check ``directory`` before training into it (see the module docstring) and say what happens:
    ``""`` (a new run), or a one-line note when a run there is replaced or resumed.

    Raises:
        ModelError: the folder holds a run and it is neither to be replaced nor resumable.
    """
    directory = Path(directory)
    if not holds_run(directory):
        return ""
    if overwrite:
        remove_run(directory)
        return f"replaced the run in {directory} (overwrite)"
    again = "pass --overwrite (Python: overwrite=True) to replace it, or choose another --out"
    path = directory / REQUEST_FILE
    if not path.exists():
        raise ModelError(f"{directory} already holds a run whose query and configuration are unknown (no {REQUEST_FILE}); {again}")
    stored = json.loads(path.read_text())
    changed = differences(stored, request)
    if changed:
        raise ModelError(
            f"{directory} already holds a run of another query or configuration (different: {', '.join(changed)}); {again}"
        )
    if (directory / CONFIG_FILE).exists():
        raise ModelError(f"{directory} already holds this run, finished (same query and configuration); "
                         + again.replace("replace it", "train it again"))
    return f"resuming the unfinished run in {directory} (same query and configuration)"


def write_request(directory: Path, request: dict[str, Any]) -> None:
    """Record what the run in ``directory`` is asked for (see :func:`prepare_run_folder`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / REQUEST_FILE).write_text(json.dumps(request, indent=2))


def forget_request_if_untrained(directory: Path) -> None:
    """Remove ``request.json`` when a run stopped before any model folder was written (a bad
    option found once the task was built), so the folder does not hold a run in a later try."""
    directory = Path(directory)
    if not any((directory / name).exists() for name in (CONFIG_FILE, *MODEL_FOLDERS)):
        (directory / REQUEST_FILE).unlink(missing_ok=True)


def copy_run(source: Path, target: Path, overwrite: bool) -> None:
    """Copy the run folder ``source`` to ``target``; a run already there is replaced only with ``overwrite``."""
    target = Path(target)
    if holds_run(target):
        if not overwrite:
            raise ModelError(f"{target} already holds a run; pass overwrite=True to replace it, or save to another folder")
        remove_run(target)
    shutil.copytree(source, target, dirs_exist_ok=True)
