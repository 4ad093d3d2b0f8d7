"""Temporal neighbour sampling: per-seed computation trees that never see rows after the seed time."""

from relgraph.sampling.batch import SampledBatch
from relgraph.sampling.loader import TemporalNeighborLoader
from relgraph.sampling.sampler import SampledSubgraphs, TemporalSampler

__all__ = ["SampledBatch", "SampledSubgraphs", "TemporalNeighborLoader", "TemporalSampler"]
