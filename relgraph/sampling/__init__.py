"""Temporal neighbour sampling: per-seed computation trees that never see rows after the seed time."""

from relgraph.sampling.loader import TemporalNeighborLoader
from relgraph.sampling.sampler import SampledSubgraphs, TemporalSampler

__all__ = ["SampledSubgraphs", "TemporalNeighborLoader", "TemporalSampler"]
