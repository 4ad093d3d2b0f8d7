"""The Schema view: the database as a graph drawn server-side as SVG (no JavaScript library, so it
renders offline and in tests as plain markup), plus ``inspect``'s per-table evidence.

Tables are circles sized by their row count (log scale), coloured by role: *entity* (a timed or
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


def _layout(names: list[str]) -> dict[str, tuple[float, float]]:
    """Tables on a circle (a ring stays legible for the tens of tables relational databases have)."""
    if len(names) == 1:
        return {names[0]: (WIDTH / 2, HEIGHT / 2)}
    radius_x, radius_y = WIDTH / 2 - 110, HEIGHT / 2 - 70
    return {name: (WIDTH / 2 + radius_x * math.cos(2 * math.pi * i / len(names) - math.pi / 2),
                   HEIGHT / 2 + radius_y * math.sin(2 * math.pi * i / len(names) - math.pi / 2))
            for i, name in enumerate(names)}


def schema_svg(schema: Schema, rows: dict[str, int]) -> str:
    """The schema as an SVG element: one ``<g class="table" data-table=...>`` per table and one
    ``<g class="edge" data-edge="child.column->parent">`` per foreign key."""
    names = schema.table_names
    pos = _layout(names)
    biggest = max([rows.get(n, 0) for n in names] + [1])
    size = {n: 14 + 22 * math.log1p(rows.get(n, 0)) / math.log1p(biggest) for n in names}
    parts = [f'<svg id="schema-graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="100%" role="img" aria-label="schema graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    for child, column, parent in graph_edges(schema):
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
            mid = ((sx + ex) / 2, (sy + ey) / 2)
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
