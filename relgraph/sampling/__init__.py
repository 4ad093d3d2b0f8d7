"""Temporal neighbour sampling: per-seed computation trees that never see rows after the seed time."""

from relgraph.sampling.loader import TemporalNeighborLoader
from relgraph.sampling.sampler import TemporalSampler

__all__ = ["TemporalNeighborLoader", "TemporalSampler"]
