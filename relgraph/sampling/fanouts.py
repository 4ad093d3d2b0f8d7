"""Per-edge-type fanouts that add a third hop to the entity's *parents'* own event tables.

With hops ``entity -> its event table S -> S's static parent P`` (driver -> results ->
constructor), the parent reaches the seed only as a static row: what P did with other entities
(the team-mate's results, the constructor's standings) is a third hop away. :func:`parent_event_edges`
names the edges into such a parent P from its own timed child tables: a model keeps its fanouts
for hops 1..L and gives hop L + 1 only to these (a few latest each), in a per-edge-type fanout dict.

P is found from the graph alone, as ``baselines.current_parents`` finds a current parent in the
schema: S is timed with exactly one foreign key to the entity; P is static, not the entity, and
referenced by exactly one foreign key of S (role-named keys, such as a flight's origin and
destination airport, are skipped: neither is "the" parent). The time rule is the sampler's, so
no third-hop row is after its seed's time.
"""

from __future__ import annotations

from relgraph.graph.temporal_graph import EdgeType, TemporalGraph, reverse_relation


def _forward_edges(graph: TemporalGraph) -> list[EdgeType]:
    """``(child, fk, parent)`` edge types: those whose reverse ``(parent, rev_fk, child)`` is there too."""
    return [et for et in graph.edge_types if (et[2], reverse_relation(et[1]), et[0]) in graph.edge_index]


def entity_parents(graph: TemporalGraph, entity: str) -> list[str]:
    """Static parent tables of ``entity``'s event tables (module docstring), sorted."""
    forward = _forward_edges(graph)
    parents: set[str] = set()
    for events in graph.node_types:
        if events == entity or graph.node_time[events] is None:
            continue
        keys = [et for et in forward if et[0] == events]
        if sum(et[2] == entity for et in keys) != 1:
            continue
        for _, _, parent in keys:
            if parent != entity and graph.node_time[parent] is None and sum(et[2] == parent for et in keys) == 1:
                parents.add(parent)
    return sorted(parents)


def parent_event_edges(graph: TemporalGraph, entity: str) -> list[EdgeType]:
    """Edge types ``(child, fk, P)`` into a parent P of ``entity`` from P's own timed child tables."""
    parents, forward = set(entity_parents(graph, entity)), set(_forward_edges(graph))
    return [et for et in graph.edge_types
            if et[2] in parents and et in forward and graph.node_time[et[0]] is not None]

