"""GNN explanations by occlusion on the sampled temporal subgraph.

The entity's subgraph is sampled exactly as ``predict`` samples it (same sampler, same time cut:
only rows with time <= the prediction time, same RNG seed as a first prediction batch). Each
candidate removal (one row: every node of that row; one table; one hop) becomes one copy of the
subgraph with those nodes' edges dropped, and all copies go through the GNN in one batch (the
copies are disjoint subgraphs with one seed each). A row's contribution is the prediction with
everything minus the prediction without that row.

Why occlusion rather than gradients (integrated gradients, gradient x input): the question asked
is "what if this row were not there", and removing a row changes what a gradient cannot see: the
mean over a node's neighbours is re-normalised, the in-degree embedding and the recent-history
counts change. Occlusion measures exactly that, at the cost of one batched forward pass over
(rows + tables + hops) copies of a small tree, and it is the same operation as the faithfulness
check (removing the top rows), so the two agree by construction on single rows.

Units: log-odds (binary), the predicted value (regression), the predicted class's probability
(multiclass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from relgraph.database import Database
from relgraph.runs.explain.models import GNNParts, gnn_forward, gnn_parts, gnn_seed_rows
from relgraph.runs.explain.tabular import _json_value, _table_list

#: Subgraph copies per forward pass (bounds memory on big neighbourhoods).
COPIES_PER_PASS = 128
#: Columns listed per row at most.
COLUMNS_PER_ROW = 8


@dataclass
class Subgraph:
    """One entity's sampled subgraph and what occlusion needs of it."""

    batch: Any  # SampledBatch with batch_size 1
    node_types: list[str]
    seed_type: str
    hops: dict[str, np.ndarray]  # node type -> hop of each local node
    rows: dict[str, np.ndarray]  # node type -> global row of each local node


def sample_subgraph(model: Any, db: Database, key: Any, at: pd.Timestamp) -> tuple[GNNParts, Subgraph]:
    """The subgraph ``predict`` would use for (``key``, ``at``)."""
    from relgraph.schema.times import to_seconds

    parts = gnn_parts(model, db)
    frame = pd.DataFrame({model.entity_key: [key], "timestamp": [pd.Timestamp(at)]})
    rows = gnn_seed_rows(model, db, frame)
    seconds = to_seconds(frame["timestamp"])
    batch = parts.sampler.sample_batch(parts.entity_table, rows, seconds, np.random.default_rng(parts.seed_rng))
    hops, global_rows = {}, {}
    for nt in batch.node_types:
        counts = np.asarray(batch.num_sampled_nodes_dict.get(nt, [batch[nt].n_id.shape[0]]))
        n = int(batch[nt].n_id.shape[0])
        hops[nt] = np.searchsorted(np.cumsum(counts), np.arange(n), side="right")
        global_rows[nt] = batch[nt].n_id.numpy()
    return parts, Subgraph(batch, list(batch.node_types), parts.entity_table, hops, global_rows)


def occlude(model: Any, parts: GNNParts, sub: Subgraph, removals: list[dict[str, np.ndarray]]) -> np.ndarray:
    """The model's output in explanation units for the full subgraph (index 0) and for each removal
    (index i + 1): ``removals[i][node type]`` = local node indices whose edges are dropped."""
    outs = []
    copies = [{}] + removals
    for start in range(0, len(copies), COPIES_PER_PASS):
        union = _union(sub, copies[start:start + COPIES_PER_PASS])
        import torch

        with torch.no_grad():
            raw = gnn_forward(model, union, parts)
        outs.append(_units(parts, raw))
    return np.concatenate(outs)


def _units(parts: GNNParts, raw: Any) -> np.ndarray:
    import torch

    if parts.task_type == "binary":
        return raw.double().numpy()  # log-odds
    if parts.task_type == "regression":
        return parts.model.head.predict(raw).double().numpy()
    proba = torch.softmax(raw.double(), dim=-1).numpy()
    return proba  # [C, classes]; the caller picks the predicted class


def _union(sub: Subgraph, copies: list[dict[str, np.ndarray]]) -> Any:
    """A batch holding ``len(copies)`` disjoint copies of the subgraph, seeds first, each copy
    without the edges of its removed nodes."""
    import torch

    from relgraph.sampling import SampledBatch

    batch = sub.batch
    c = len(copies)
    out = SampledBatch(sub.seed_type, c)
    index: dict[str, np.ndarray] = {}  # node type -> [c, n_t] new local index
    for nt in sub.node_types:
        n = int(batch[nt].n_id.shape[0])
        copy_ids = np.arange(c)[:, None]
        local = np.arange(n)[None, :]
        if nt == sub.seed_type:
            # Seeds (local 0 of each copy) first, as the model expects, then the rest copy by copy.
            idx = np.where(local == 0, copy_ids, c + copy_ids * (n - 1) + local - 1)
        else:
            idx = copy_ids * n + local
        index[nt] = idx
        order = np.argsort(idx.reshape(-1), kind="stable")
        src_local = np.tile(np.arange(n), c)[order]
        store = out.add_node_type(nt, {"num_nodes": n * c})
        for attr in ("n_id", "rel_time", "seed_time", "seed"):
            value = getattr(batch[nt], attr, None)
            if value is not None:
                store[attr] = value[torch.from_numpy(src_local)]
    for et in batch.edge_types:
        src_t, _, dst_t = et
        ei = batch[et].edge_index.numpy()
        pieces = []
        for k, removed in enumerate(copies):
            keep = np.ones(ei.shape[1], dtype=bool)
            if src_t in removed and len(removed[src_t]):
                keep &= ~np.isin(ei[0], removed[src_t])
            if dst_t in removed and len(removed[dst_t]):
                keep &= ~np.isin(ei[1], removed[dst_t])
            pieces.append(np.stack([index[src_t][k][ei[0][keep]], index[dst_t][k][ei[1][keep]]]))
        merged = np.concatenate(pieces, axis=1) if pieces else np.zeros((2, 0), dtype=np.int64)
        out.edge_store(et)["edge_index"] = torch.from_numpy(merged.astype(np.int64))
    return out


def row_groups(sub: Subgraph) -> list[tuple[str, int, dict[str, np.ndarray]]]:
    """One removal per distinct row of the subgraph other than the entity's own: (table, global row, nodes)."""
    groups = []
    for nt in sub.node_types:
        rows = sub.rows[nt]
        for row in np.unique(rows):
            if nt == sub.seed_type and row == rows[0]:
                continue  # the entity's own row (also met again deeper in the tree) is what is predicted
            local = np.flatnonzero(rows == row)
            groups.append((nt, int(row), {nt: local}))
    return groups


def explain_gnn(model: Any, db: Database, key: Any, at: pd.Timestamp, class_index: int | None = None,
                max_rows: int = 20) -> dict[str, Any]:
    """Explanation of one (entity, time) by a GNN: per row, table and hop of its subgraph."""
    parts, sub = sample_subgraph(model, db, key, at)
    rows = row_groups(sub)
    tables = [nt for nt in sub.node_types if any(t == nt for t, _, _ in rows)]
    table_removals = []
    for nt in tables:
        local = np.arange(len(sub.rows[nt]))
        table_removals.append({nt: local[local != 0] if nt == sub.seed_type else local})
    max_hop = max((int(h.max()) for h in sub.hops.values() if len(h)), default=0)
    hop_removals = [{nt: np.flatnonzero(sub.hops[nt] == h) for nt in sub.node_types} for h in range(1, max_hop + 1)]
    removals = [g for _, _, g in rows] + table_removals + hop_removals
    out = occlude(model, parts, sub, removals)
    if out.ndim == 2:
        k = int(np.argmax(out[0])) if class_index is None else class_index
        out = out[:, k]
    full = float(out[0])
    delta = full - out[1:]
    row_delta, table_delta, hop_delta = np.split(delta, [len(rows), len(rows) + len(tables)])
    row_items = []
    for (nt, row, local), d in zip(rows, row_delta):
        hop = int(sub.hops[nt][local[nt]].min())
        row_items.append({"table": nt, "row": row, "hop": hop, "contribution": float(d)})
    row_items.sort(key=lambda r: -abs(r["contribution"]))
    for item in row_items[:max_rows]:
        item.update(describe_row(db, parts.graph, item["table"], item["row"]))
    for item in row_items[max_rows:]:
        item.update(describe_row(db, parts.graph, item["table"], item["row"], columns=False))
    return {
        "method": "occlusion on the sampled temporal subgraph (prediction minus prediction without the row)",
        "units": {"binary": "log-odds", "regression": "value", "multiclass": "class probability"}[parts.task_type],
        "base_value": full,
        "tables": _table_list({nt: float(d) for nt, d in zip(tables, table_delta)}),
        "hops": [{"hop": h + 1, "contribution": float(d)} for h, d in enumerate(hop_delta)],
        "rows": row_items,
        "subgraph_nodes": int(sum(len(r) for r in sub.rows.values())),
    }


def describe_row(db: Database, graph: Any, table: str, row: int, columns: bool = True) -> dict[str, Any]:
    """Primary key, time and (a few) column values of row position ``row`` of ``table``."""
    spec = db.schema[table]
    data = db.tables[table]
    out: dict[str, Any] = {"key": _json_value(data.column(spec.primary_key)[row].as_py()) if spec.primary_key else row}
    times = graph.node_time.get(table) if graph is not None else None
    if times is not None and times[row] != np.iinfo(np.int64).max:
        out["time"] = pd.Timestamp(int(times[row]), unit="s").isoformat()
    else:
        out["time"] = None
    if columns:
        from relgraph.schema.model import SType

        shown = [c.name for c in spec.columns if c.stype not in (SType.IGNORED,) and c.name != spec.primary_key]
        out["columns"] = {c: _json_value(data.column(c)[row].as_py()) for c in shown[:COLUMNS_PER_ROW]}
    return out


def remove_rows_effect(model: Any, db: Database, key: Any, at: pd.Timestamp,
                       removal_sets: list[list[tuple[str, int]]], class_index: int | None = None) -> np.ndarray:
    """|prediction change| (explanation units) when each set of (table, global row) is removed from the subgraph."""
    parts, sub = sample_subgraph(model, db, key, at)
    removals = []
    for rows in removal_sets:
        removed: dict[str, list[int]] = {}
        for nt, row in rows:
            if nt not in sub.rows:
                continue
            local = np.flatnonzero(sub.rows[nt] == row)
            if nt == sub.seed_type:
                local = local[local != 0]
            removed.setdefault(nt, []).extend(local.tolist())
        removals.append({nt: np.asarray(v, dtype=np.int64) for nt, v in removed.items()})
    out = occlude(model, parts, sub, removals)
    if out.ndim == 2:
        k = int(np.argmax(out[0])) if class_index is None else class_index
        out = out[:, k]
    return np.abs(out[1:] - out[0])


def subgraph_rows(model: Any, db: Database, key: Any, at: pd.Timestamp) -> list[tuple[str, int]]:
    """The distinct (table, global row) of the entity's subgraph, the entity's own row excluded."""
    _, sub = sample_subgraph(model, db, key, at)
    return [(nt, row) for nt, row, _ in row_groups(sub)]
