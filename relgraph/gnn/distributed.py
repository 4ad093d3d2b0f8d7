"""One GNN trained by several workers with PyTorch ``DistributedDataParallel``.

``GNNConfig(workers=N)`` (``relgraph train --workers N``) starts N-1 worker processes on this
machine (``torch.multiprocessing``, spawn) and the calling process is worker 0; launched by
``torchrun`` (``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` / ``MASTER_PORT`` in the environment),
or inside a process group already initialised, each process joins that group instead and
starts nothing. Backend: gloo (the model's tensors are on the CPU); where CUDA exists,
``cpu:gloo,cuda:nccl``, so CUDA tensors would go through NCCL.

Every worker builds the same model (seeded; DDP also broadcasts worker 0's weights), takes its
own share of each step's seeds (``relgraph.sampling.loader.shard_batches``: deterministic from
the seed and epoch), and DDP averages the gradients, so all replicas take the same optimiser
step. Validation rows are split between the workers and their predictions gathered; worker 0's
early-stopping decision is broadcast so all stop together; only worker 0 writes checkpoints,
and the fitted model is worker 0's (the calling process), saved by the run as for one worker.
Torch threads per worker: ``max(1, num_threads // N)``.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import pickle
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from relgraph.errors import ModelError, RelgraphError

if TYPE_CHECKING:
    from relgraph.database import Database
    from relgraph.gnn.predictor import GNNPredictor
    from relgraph.query.task import TaskTables

logger = logging.getLogger(__name__)

#: How long a worker waits on the others in one collective before giving up.
TIMEOUT = datetime.timedelta(minutes=30)


def backend() -> str:
    """gloo on CPU; gloo for CPU tensors and NCCL for CUDA ones where CUDA exists."""
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


def torchrun_world() -> tuple[int, int] | None:
    """(rank, world size) when this process was launched by torchrun for several workers."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    world = int(os.environ["WORLD_SIZE"])
    return (int(os.environ["RANK"]), world) if world > 1 else None


def worker_threads(threads: int, workers: int) -> int:
    """Torch threads of one worker when ``workers`` share ``threads``."""
    return max(1, threads // workers)


@dataclasses.dataclass
class WorkerGroup:
    """This process's place in the group: ``rank`` of ``world_size``; ``owned``: this module
    initialised the process group and destroys it in :meth:`close`."""

    rank: int
    world_size: int
    owned: bool = False

    @classmethod
    def start(cls, rank: int, world_size: int, store: dist.Store) -> WorkerGroup:
        dist.init_process_group(backend(), store=store, rank=rank, world_size=world_size, timeout=TIMEOUT)
        return cls(rank, world_size, owned=True)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in DDP: gradients averaged over the workers in backward. A batch need not
        reach every table or edge type (unused parameters); no buffer changes in training, so none is
        synced before each forward."""
        return torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True, forward_sync_buffers=False)

    def mean(self, value: float) -> float:
        """``value`` averaged over the workers."""
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def broadcast(self, obj: Any) -> Any:
        """Worker 0's ``obj`` on every worker."""
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_rows(self, n: int, positions: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Rows ``values`` at ``positions`` of every worker -> the full [n, ...] array, on all."""
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, (positions, values))
        out = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
        for pos, vals in parts:
            out[pos] = vals
        return out

    def close(self) -> None:
        if self.owned and dist.is_initialized():
            dist.destroy_process_group()


def join_group() -> WorkerGroup | None:
    """The group this process is already part of: initialised by the caller, or described by
    torchrun's environment (joined here once, and kept for the next fits of the process, e.g. a
    hybrid's folds: re-creating it would rebind the same ``MASTER_PORT``); None when neither."""
    if dist.is_available() and dist.is_initialized():
        return WorkerGroup(dist.get_rank(), dist.get_world_size())
    world = torchrun_world()
    if world is None:
        return None
    dist.init_process_group(backend(), init_method="env://", timeout=TIMEOUT)
    return WorkerGroup(world[0], world[1])


def fit_distributed(predictor: GNNPredictor, db: Database, task: TaskTables) -> GNNPredictor:
    """Fit ``predictor`` with ``predictor.config.workers`` workers (or torchrun's); the fitted
    model is left in ``predictor`` (worker 0)."""
    group = join_group()
    if group is not None:
        if predictor.config.workers > 1 and predictor.config.workers != group.world_size:
            logger.warning("workers=%d ignored: this process group has %d workers",
                           predictor.config.workers, group.world_size)
        try:
            return predictor._fit(db, task, group)
        finally:
            group.close()
    return _fit_local(predictor, db, task, predictor.config.workers)


def _fit_local(predictor: GNNPredictor, db: Database, task: TaskTables, workers: int) -> GNNPredictor:
    """Start ``workers - 1`` processes on this machine; this process is worker 0."""
    from relgraph.graph.mmap import graph_for

    cfg = predictor.config
    if cfg.graph_cache_dir is not None:  # the other workers then load the graph instead of building it
        graph_for(db, cfg.graph, cache_dir=cfg.graph_cache_dir, text_encoder=cfg.text_encoder)
    store = dist.TCPStore("127.0.0.1", 0, workers, is_master=True, timeout=TIMEOUT, wait_for_workers=False)
    # The workers' share (database included) goes through a file, streamed: no second in-memory
    # copy of the database stays in this process while it trains.
    handle, payload = tempfile.mkstemp(prefix="relgraph-workers-", suffix=".pickle")
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump((type(predictor), cfg, copy_for_workers(db), task, store.port, workers), out,
                        protocol=pickle.HIGHEST_PROTOCOL)
        context = mp.start_processes(_follow, args=(payload,), nprocs=workers - 1, join=False, start_method="spawn")
        group = None
        try:
            _wait_for_workers(store, context, workers)
            group = WorkerGroup.start(0, workers, store)
            predictor._fit(db, task, group)
        except BaseException as err:
            _stop(context, err)
            raise
        finally:
            if group is not None:
                group.close()
        while not context.join():
            pass
    finally:
        os.unlink(payload)
    return predictor


def copy_for_workers(db: Database) -> Database:
    """A shallow copy of ``db`` without its open SQL connection (not picklable; reopened on use),
    its tables compacted: a chunk that is a slice of a larger buffer pickles the whole buffer
    (the 10M-row demo's tables, 0.4 GiB of rows, pickled to 3.2 GiB, and a second worker at 50M
    ran out of memory unpickling them)."""
    import copy

    clone = copy.copy(db)
    clone._con = None
    clone.__dict__.pop("_views", None)  # the SQL views' tables: rebuilt on use, not pickled beside the tables
    clone.tables = {name: table.combine_chunks() for name, table in db.tables.items()}
    return clone


def _wait_for_workers(store: dist.Store, context: Any, workers: int) -> None:
    """Until every started worker has checked in (imported, unpickled its share); a worker that
    dies first raises its error here instead of leaving worker 0 waiting for it."""
    keys = [f"ready/{rank}" for rank in range(1, workers)]
    while True:
        try:
            store.wait(keys, datetime.timedelta(seconds=1))
            return
        except RuntimeError:  # not yet: has a worker ended meanwhile?
            if any(p.exitcode is not None for p in context.processes):
                context.join(timeout=5)  # raises the worker's error
                raise ModelError("a training worker ended before training started") from None


def _follow(index: int, payload: str) -> None:
    """Worker ``index + 1`` of a local group: the same fit, no checkpoints, nothing kept.
    ``payload``: the file worker 0 pickled the share into (removed by worker 0)."""
    with open(payload, "rb") as share:
        cls, cfg, db, task, port, workers = pickle.load(share)
    predictor = cls(cfg, checkpoint_dir=None, quiet=True)
    store = dist.TCPStore("127.0.0.1", port, workers, is_master=False, timeout=TIMEOUT)
    store.set(f"ready/{index + 1}", "1")
    group = WorkerGroup.start(index + 1, workers, store)
    try:
        predictor._fit(db, task, group)
    finally:
        group.close()


def _stop(context: Any, err: BaseException) -> None:
    """Worker 0 failed (or a worker it waited on did): end the worker processes started here and,
    unless worker 0's error is relgraph's own (the same on every worker: bad data, bad options),
    surface a worker's error when there is one."""
    if isinstance(err, (RelgraphError, KeyboardInterrupt)):
        _terminate(context.processes)
        return
    try:
        context.join(timeout=5)
    except mp.ProcessRaisedException as worker_err:
        _terminate(context.processes)
        raise ModelError(f"a training worker failed:\n{worker_err}") from err
    except mp.ProcessExitedException:
        pass
    _terminate(context.processes)


def _terminate(processes: Sequence[Any]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


