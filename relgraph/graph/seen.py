"""What the training period saw, beyond node times: static rows by their first timed reference,
and the dominant value of each numerical column.

A static table has no time of its own, so every row counts as known forever, yet a row that only
timed rows *after* the training cutoff point to (a driver who debuts in the test years) never
reaches a training subgraph: the parameters its values select (embedding rows, a text map fitted
on other names) receive no gradient. :func:`static_first_reference` gives each row of a static
table the time of the first timed row that references it; rows first referenced after the
training cutoff are *unseen*, like categories first seen after the cutoff.

:func:`dominant_values` is the rule the LightGBM features use for "equals the dominant value"
indicators (``relgraph.baselines.aggregates``: ``results.statusId`` = 1, finished).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: ``temporal_graph.NEVER`` (importing it would close a circle: temporal_graph -> columns -> seen).
NEVER = np.iinfo(np.int64).max

#: The most common value of a numerical column gets an indicator when it covers at least this
#: share of the column's known values (the LightGBM features' ``DOMINANT_VALUE_SHARE``).
DOMINANT_VALUE_SHARE = 0.1


def static_first_reference(graph: Any, table: str) -> np.ndarray | None:
    """int64 seconds [N] per row of static ``table``: the earliest time of a timed row whose foreign
    key points to it (``NEVER`` when none does).

    None when ``table`` is timed or no timed table references it (then every row counts as seen,
    as before: nothing dates its rows). ``graph`` is a :class:`~relgraph.graph.TemporalGraph`.
    A row's value depends only on the rows at or before it, so cutting the database later keeps it.
    """
    if graph.node_time.get(table) is not None:
        return None
    first, referenced = np.full(graph.num_nodes[table], NEVER, dtype=np.int64), False
    for (src, relation, dst), edge_index in graph.edge_index.items():
        src_time = graph.node_time.get(src)
        if dst != table or src_time is None or _is_reverse(graph, (src, relation, dst)):
            continue
        referenced = True
        edge_index = np.asarray(edge_index)
        np.minimum.at(first, edge_index[1], src_time[edge_index[0]])
    return first if referenced else None


def seen_from(graph: Any, table: str, cutoff: int) -> np.ndarray | None:
    """int64 [N]: from when each row of static ``table`` counts as seen by a model trained up to
    ``cutoff``: its first reference when that is at or before the cutoff, else ``NEVER``.

    A row is seen at time t iff ``seen_from <= t``: a debutant is unseen before its first event
    (so training seeds teach what unseen means) and a row first referenced after the cutoff is
    unseen for ever. None where :func:`static_first_reference` is None.
    """
    first = static_first_reference(graph, table)
    return None if first is None else np.where(first <= cutoff, first, NEVER)


def _is_reverse(graph: Any, edge_type: tuple[str, str, str]) -> bool:
    """Whether ``edge_type`` is the reverse ``(parent, rev_fk, child)`` of a foreign-key edge."""
    src, relation, dst = edge_type
    return relation.startswith("rev_") and (dst, relation[4:], src) in graph.edge_index


def dominant_values(numerical: np.ndarray) -> list[float | None]:
    """Per column of float [N, Fn]: its most common known value when that value covers at least
    ``DOMINANT_VALUE_SHARE`` of the known values, at least two rows and not all of them; else None."""
    out: list[float | None] = []
    for j in range(numerical.shape[1]):
        known = numerical[:, j][~np.isnan(numerical[:, j])]
        if not len(known):
            out.append(None)
            continue
        values, counts = np.unique(known, return_counts=True)
        top = int(np.argmax(counts))  # ties: the smallest value, as the LightGBM rule's ORDER BY k DESC, x
        mode_count = int(counts[top])
        dominant = mode_count >= 2 and mode_count / len(known) >= DOMINANT_VALUE_SHARE and mode_count < len(known)
        out.append(float(values[top]) if dominant else None)
    return out


def dominant_indicators(numerical: np.ndarray, dominant: list[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """float32 [N, D] (1 where a column equals its dominant value) and its missing flags [N, D],
    for the D columns that have one."""
    columns = [j for j, v in enumerate(dominant) if v is not None]
    raw = numerical[:, columns].astype(np.float64)
    target = np.array([dominant[j] for j in columns], dtype=np.float64)
    missing = np.isnan(raw)
    return (raw == target).astype(np.float32), missing.astype(np.float32)
