"""Mini-batch iteration over seed entities with their seed times, reproducible under a seed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from relgraph.errors import QueryError, RelgraphError
from relgraph.graph.temporal_graph import TemporalGraph
from relgraph.sampling.batch import SampledBatch
from relgraph.sampling.sampler import Fanouts, SampledSubgraphs, Strategy, TemporalSampler

if TYPE_CHECKING:  # imported on use (relgraph.sampling.batch)
    from torch_geometric.data import HeteroData


class _BatchSampling(Dataset):
    """Item ``b`` = (seed positions ``batches[b]``, their sampled subgraphs as NumPy arrays)."""

    def __init__(
        self,
        sampler: TemporalSampler,
        seed_type: str,
        seeds: np.ndarray,
        seed_times: np.ndarray,
        batches: list[np.ndarray],
        entropy: tuple[int, ...],
    ) -> None:
        self.sampler = sampler
        self.seed_type = seed_type
        self.seeds = seeds
        self.seed_times = seed_times
        self.batches = batches
        self.entropy = entropy

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[np.ndarray, SampledSubgraphs]:
        positions = self.batches[index]
        # one generator per (seed, epoch, batch): identical batches whichever worker samples them
        rng = np.random.default_rng([*self.entropy, index])
        sampled = self.sampler.sample_arrays(
            self.seed_type, self.seeds[positions], self.seed_times[positions], rng
        )
        return positions, sampled


class TemporalNeighborLoader:
    """Iterates sampled mini-batches of seed entities.

    Args:
        graph: the temporal graph.
        seed_type: node type (table) of the seeds.
        seeds: int64 [N] row ids of the seed entities (an entity may repeat with different times).
        seed_times: int64 [N] seconds since epoch, the prediction time of each seed.
        fanouts: per hop, or per edge type (see :class:`TemporalSampler`).
        batch_size: seeds per batch; the last batch may be smaller.
        shuffle: permute the seeds each pass. Passes are then numbered (epoch 0, 1, ...) and each
            pass draws a new order and new neighbour samples; without shuffle every pass yields
            identical batches (so evaluation is repeatable).
        num_workers: >0 samples in that many worker processes through a torch ``DataLoader``;
            batches are identical to ``num_workers=0`` (randomness is keyed by batch, not worker).
            Only worth it with idle cores to overlap sampling and training: on a busy 2-core
            machine 2 workers gave ~7 ms per shape-A batch against ~4 ms in-process.
        seed: makes everything reproducible: the same seed gives the same batches.
        strategy, replace: see :class:`TemporalSampler`.
        shard: ``(rank, count)``: this worker's share when ``count`` workers train together
            (``relgraph.gnn.distributed``); see :func:`shard_batches`. ``batch_size`` is then
            the seeds per batch of one worker.
        hetero_data: yield PyG ``HeteroData`` (the default); False: the same tensors as
            :class:`~relgraph.sampling.batch.SampledBatch`, without importing ``torch_geometric``.

    Each batch is the sampler's ``HeteroData`` (or ``SampledBatch``) plus ``input_id`` (int64 [B]): the positions of its
    seeds in ``seeds`` / ``seed_times``, to align labels.
    """

    def __init__(
        self,
        graph: TemporalGraph,
        seed_type: str,
        seeds: np.ndarray,
        seed_times: np.ndarray,
        fanouts: Fanouts,
        batch_size: int = 512,
        shuffle: bool = False,
        num_workers: int = 0,
        seed: int = 0,
        strategy: Strategy = "recent",
        replace: bool = False,
        shard: tuple[int, int] = (0, 1),
        hetero_data: bool = True,
    ) -> None:
        if batch_size < 1:
            raise RelgraphError(f"batch_size is {batch_size}; use a positive number of seeds per batch")
        if num_workers < 0:
            raise RelgraphError(f"num_workers is {num_workers}; use 0 (sample in this process) or more")
        self.seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
        self.seed_times = np.asarray(seed_times, dtype=np.int64).reshape(-1)
        if len(self.seeds) != len(self.seed_times):
            raise QueryError(
                f"{len(self.seeds)} seeds but {len(self.seed_times)} seed times; pass one time per seed"
            )
        self.sampler = TemporalSampler(graph, fanouts, strategy=strategy, replace=replace)
        # validate every seed once here, so a bad row fails before training starts
        self.sampler.check_seeds(seed_type, self.seeds, self.seed_times)
        self.seed_type = seed_type
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.seed = seed
        self.epoch = 0
        rank, count = shard
        if count < 1 or not 0 <= rank < count:
            raise RelgraphError(f"shard {shard}: use (rank, count) with 0 <= rank < count")
        self.shard = (rank, count)
        self.hetero_data = hetero_data

    def __len__(self) -> int:
        per_worker = -(-len(self.seeds) // self.shard[1])
        return -(-per_worker // self.batch_size)

    def __iter__(self) -> Iterator[HeteroData | SampledBatch]:
        epoch = self.epoch
        if self.shuffle:
            self.epoch += 1
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.seeds))
        else:
            order = np.arange(len(self.seeds))
        rank, count = self.shard
        batches = shard_batches(order, self.batch_size, rank, count)
        # one worker keeps the entropy it always had; several draw different neighbours per worker
        entropy = (self.seed, epoch) if count == 1 else (self.seed, epoch, 1_000_003 + rank)
        dataset = _BatchSampling(self.sampler, self.seed_type, self.seeds, self.seed_times, batches, entropy)
        if self.num_workers == 0:
            items: Iterable[tuple[np.ndarray, SampledSubgraphs]] = (dataset[b] for b in range(len(dataset)))
        else:
            # workers send NumPy arrays (pickled through a pipe); tensors would each cost a shared-memory file
            items = DataLoader(
                dataset, batch_size=None, shuffle=False, num_workers=self.num_workers, collate_fn=_identity
            )
        for positions, sampled in items:
            batch = sampled.to_batch()
            batch.input_id = torch.from_numpy(positions)
            yield batch.to_hetero_data() if self.hetero_data else batch


def shard_batches(order: np.ndarray, batch_size: int, rank: int = 0, count: int = 1) -> list[np.ndarray]:
    """Worker ``rank``'s batches of seed positions ``order`` when ``count`` workers share each step.

    One worker: consecutive slices of ``batch_size``. Several: ``order`` is padded to a multiple of
    ``count`` by repeating its first positions (as torch's ``DistributedSampler`` does), cut into
    global batches of ``batch_size * count``, and worker ``rank`` takes every ``count``-th seed of
    each from its ``rank``-th on. So every worker gets as many batches, of equal sizes (the
    all-reduce averages equal shares), their batches are disjoint apart from the padding
    (< ``count`` seeds) and together make up the global batch of that step.
    """
    if count == 1:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    order = np.concatenate([order, order[: (-len(order)) % count]])
    size = batch_size * count
    return [order[i : i + size][rank::count] for i in range(0, len(order), size)]


def _identity(item: tuple[np.ndarray, SampledSubgraphs]) -> tuple[np.ndarray, SampledSubgraphs]:
    return item
