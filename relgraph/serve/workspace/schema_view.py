"""The Schema view: the database as a graph drawn server-side as SVG (no JavaScript library, so it
renders offline and in tests as plain markup), plus ``inspect``'s per-table evidence.

Tables are circles sized by their row count (log scale), in layers (referenced tables above the
tables referencing them), coloured by role: *entity* (a timed or
static table other tables point at), *event* (a timed table nothing points at), *static* (no row
time); implicit tables (made from id columns) get a dashed outline. Foreign keys are arrows from
the child to the parent, labelled with the column.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from relgraph.schema.model import Schema
from relgraph.schema.report import schema_json

#: Fill colour per table role.
ROLE_COLOURS = {"entity": "#4e79a7", "event": "#f28e2b", "static": "#9c9c9c"}
WIDTH, HEIGHT = 760, 520


def table_role(schema: Schema, name: str) -> str:
    """``static`` (no row time), ``entity`` (others reference it) or ``event``."""
    if schema[name].time is None:
        return "static"
    referenced = {fk.references_table for _, fk in schema.edges()} | {
        fk.references_table for _, fk in schema.composite_edges()}
    return "entity" if name in referenced else "event"


def graph_edges(schema: Schema) -> list[tuple[str, str, str]]:
    """(child, column(s), parent) per foreign key, composite ones with their columns joined."""
    edges = [(child, fk.column, fk.references_table) for child, fk in schema.edges()]
    edges += [(child, ",".join(fk.columns), fk.references_table) for child, fk in schema.composite_edges()]
    return edges


def table_layers(names: list[str], edges: list[tuple[str, str, str]]) -> list[list[str]]:
    """Tables by depth: those referencing no table first, each other table one layer below its deepest
    parent (a reference cycle is cut where it closes), each layer ordered by its parents' positions."""
    parents: dict[str, set[str]] = {n: set() for n in names}
    for child, _, parent in edges:
        if child != parent:
            parents[child].add(parent)
    depth: dict[str, int] = {}

    def visit(name: str, path: frozenset[str]) -> int:
        if name not in depth:
            depth[name] = 1 + max((visit(p, path | {name}) for p in parents[name] if p not in path), default=-1)
        return depth[name]

    for name in names:
        visit(name, frozenset())
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for name in names:
        layers[depth[name]].append(name)
    for upper, layer in zip(layers, layers[1:]):
        place = {n: i for i, n in enumerate(upper)}
        layer.sort(key=lambda n: sum(place.get(p, len(upper)) for p in parents[n]) / max(len(parents[n]), 1))
    return [layer for layer in layers if layer]


def _layout(names: list[str], edges: list[tuple[str, str, str]]) -> dict[str, tuple[float, float]]:
    """Referenced tables at the top, the tables that reference them below (foreign keys point up)."""
    layers = table_layers(names, edges)
    pos = {}
    for row, layer in enumerate(layers):
        y = 50 + (HEIGHT - 100) * (row + 0.5) / len(layers)
        for i, name in enumerate(layer):
            # Alternate rows are shifted a little so edges between non-neighbouring rows miss the nodes.
            x = WIDTH * (i + 0.5) / len(layer) + (12 if row % 2 else -12) * (len(layer) > 1)
            pos[name] = (x, y)
    return pos


def schema_svg(schema: Schema, rows: dict[str, int]) -> str:
    """The schema as an SVG element: one ``<g class="table" data-table=...>`` per table and one
    ``<g class="edge" data-edge="child.column->parent">`` per foreign key."""
    names = schema.table_names
    edges = graph_edges(schema)
    pos = _layout(names, edges)
    biggest = max([rows.get(n, 0) for n in names] + [1])
    size = {n: 14 + 22 * math.log1p(rows.get(n, 0)) / math.log1p(biggest) for n in names}
    parts = [f'<svg id="schema-graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="100%" role="img" aria-label="schema graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    for child, column, parent in edges:
        (x1, y1), (x2, y2) = pos[child], pos[parent]
        label = escape(f"{child}.{column}->{parent}")
        if child == parent:  # a self reference: a small loop above the node
            r = size[child]
            d = f"M {x1 - r / 2:.1f} {y1 - r:.1f} C {x1 - 40:.1f} {y1 - r - 50:.1f} {x1 + 40:.1f} {y1 - r - 50:.1f} {x1 + r / 2:.1f} {y1 - r:.1f}"
            mid = (x1, y1 - r - 38)
        else:
            length = math.hypot(x2 - x1, y2 - y1) or 1.0
            ux, uy = (x2 - x1) / length, (y2 - y1) / length
            sx, sy = x1 + ux * size[child], y1 + uy * size[child]
            ex, ey = x2 - ux * (size[parent] + 2), y2 - uy * (size[parent] + 2)
            d = f"M {sx:.1f} {sy:.1f} L {ex:.1f} {ey:.1f}"
            mid = (sx + (ex - sx) * 0.3, sy + (ey - sy) * 0.3)  # near the child: labels of one parent spread out
        parts.append(f'<g class="edge" data-edge="{label}"><title>{label}</title>'
                     f'<path d="{d}" stroke="#555" fill="none" marker-end="url(#arrow)"/>'
                     f'<text x="{mid[0]:.1f}" y="{mid[1] - 3:.1f}" font-size="10" fill="#333" '
                     f'text-anchor="middle">{escape(column)}</text></g>')
    for name in names:
        x, y = pos[name]
        role = table_role(schema, name)
        dash = ' stroke-dasharray="4 3"' if schema[name].implicit_from else ""
        implicit = " (implicit)" if schema[name].implicit_from else ""
        parts.append(f'<g class="table" data-table="{escape(name)}" data-role="{role}">'
                     f'<title>{escape(name)}: {rows.get(name, 0):,} rows, {role}{implicit}</title>'
                     f'<a href="#table-{escape(name)}"><circle cx="{x:.1f}" cy="{y:.1f}" r="{size[name]:.1f}" '
                     f'fill="{ROLE_COLOURS[role]}" stroke="#222" stroke-width="1.5"{dash}/></a>'
                     f'<text x="{x:.1f}" y="{y + size[name] + 13:.1f}" font-size="12" text-anchor="middle">'
                     f'{escape(name)}{implicit}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def schema_context(schema: Schema, source: str) -> dict[str, Any]:
    """What the Schema template shows: the SVG, and ``inspect --json``'s tables with role and implicit origin."""
    document = schema_json(schema, source)
    rows = {t["name"]: t["rows"] or 0 for t in document["tables"]}
    for table in document["tables"]:
        table["role"] = table_role(schema, table["name"])
        table["implicit_from"] = list(schema[table["name"]].implicit_from)
    return {"svg": schema_svg(schema, rows), "document": document, "edges": graph_edges(schema),
            "colours": ROLE_COLOURS}
