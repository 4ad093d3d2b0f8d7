"""Neural network modules: column encoders, heterogeneous message passing, task heads."""

from relgraph.nn.encoders import RelativeTimeEncoder, TableEncoder, TableInputs, TableSpec
from relgraph.nn.heads import TaskHead
from relgraph.nn.history import RecentHistory
from relgraph.nn.message_passing import HeteroSAGELayer, HeteroTimeAttentionLayer
from relgraph.nn.model import RelGNN

__all__ = [
    "HeteroSAGELayer",
    "HeteroTimeAttentionLayer",
    "RecentHistory",
    "RelGNN",
    "RelativeTimeEncoder",
    "TableEncoder",
    "TableInputs",
    "TableSpec",
    "TaskHead",
]
