"""What relgraph understood of a database, table by table, as text or as a JSON document
(``relgraph inspect``, the demo's first step)."""

from __future__ import annotations

from typing import Any

from relgraph.schema.model import Schema, TableSchema


def schema_json(schema: Schema, source: str, verbose: bool = False) -> dict[str, Any]:
    """The ``--json`` document (shape in the module docstring)."""
    document: dict[str, Any] = {
        "source": source,
        "tables": [_table_json(t) for t in schema.tables.values()],
        "warnings": list(schema.warnings),
    }
    if verbose:
        document["rejected_keys"] = [
            {
                "table": r.table,
                "columns": r.columns,
                "references": r.references,
                "coverage": None if r.coverage is None else round(r.coverage, 6),
                "reason": r.reason,
            }
            for r in schema.rejected_keys
        ]
    return document


def _table_json(table: TableSchema) -> dict[str, Any]:
    time = table.time
    return {
        "name": table.name,
        "rows": table.rows,
        "primary_key": table.primary_key,
        "primary_key_inferred": table.primary_key_inferred,
        "primary_key_evidence": table.primary_key_evidence,
        "time_column": time.column if time is not None and time.inherited_via is None else None,
        "time": None
        if time is None
        else {
            "column": time.column,
            "time_of_day_column": time.time_of_day_column,
            "inherited_via": time.inherited_via,
            "parent_table": time.parent_table,
            "parts": time.parts,
            "unknown": time.unknown,
            "inferred": time.inferred,
            "evidence": time.evidence,
        },
        "time_evidence": table.time_evidence,
        "columns": [
            {"name": c.name, "dtype": c.dtype, "stype": c.stype.value, "evidence": c.evidence}
            for c in table.columns
        ],
        "foreign_keys": [
            {
                "column": fk.column,
                "references_table": fk.references_table,
                "references_column": fk.references_column,
                "inferred": fk.inferred,
                "coverage": round(fk.coverage, 6),
                "dangling": fk.dangling,
                "evidence": fk.evidence,
            }
            for fk in table.foreign_keys
        ],
        "composite_key": table.composite_key,
        "composite_foreign_keys": [
            {
                "columns": fk.columns,
                "references_table": fk.references_table,
                "references_columns": fk.references_columns,
                "inferred": fk.inferred,
                "coverage": round(fk.coverage, 6),
                "dangling": fk.dangling,
                "evidence": fk.evidence,
            }
            for fk in table.composite_foreign_keys
        ],
    }


def _origin(inferred: bool) -> str:
    return "inferred" if inferred else "given"


def _columns_text(columns: list[str]) -> str:
    return f"({', '.join(columns)})"


def schema_text(schema: Schema, source: str, verbose: bool = False) -> str:
    """The human-readable report: one block per table, then warnings (and, verbose, the
    key candidates turned down)."""
    total = sum(t.rows for t in schema.tables.values())
    lines = [f"{source}: {len(schema.tables)} tables, {total:,} rows", ""]
    for table in schema.tables.values():
        lines.append(f"{table.name}  ({table.rows:,} rows)")
        key = table.primary_key or (_columns_text(table.composite_key) if table.composite_key else None)
        if key is None:
            lines.append(f"  primary key   none ({table.primary_key_evidence})")
        else:
            lines.append(
                f"  primary key   {key}  [{_origin(table.primary_key_inferred)}: {table.primary_key_evidence}]"
            )
        references = [
            (f"{fk.column} -> {fk.references_table}.{fk.references_column}", fk)
            for fk in table.foreign_keys
        ] + [
            (
                f"{_columns_text(fk.columns)} -> {fk.references_table}.{_columns_text(fk.references_columns)}",
                fk,
            )
            for fk in table.composite_foreign_keys
        ]
        if not references:
            lines.append("  foreign keys  none")
        for i, (reference, fk) in enumerate(references):
            label = "  foreign keys  " if i == 0 else " " * 16
            lines.append(
                f"{label}{reference}  coverage {fk.coverage:.1%}  [{_origin(fk.inferred)}: {fk.evidence}]"
            )
        time = table.time
        if time is None:
            lines.append(f"  time          static ({table.time_evidence or 'no time column'})")
        elif time.unknown:
            lines.append(f"  time          unknown: rows left out  [{_origin(time.inferred)}: {time.evidence}]")
        else:
            clock = f" + {time.time_of_day_column}" if time.time_of_day_column else ""
            clock += "".join(f" + {column}" for column in time.parts.values())
            where = (
                f"{time.parent_table}.{time.column}{clock} via {time.inherited_via}"
                if time.inherited_via
                else f"{time.column}{clock}"
            )
            kind = "inherited" if time.inherited_via else "own"
            lines.append(f"  time          {where} ({kind})  [{_origin(time.inferred)}: {time.evidence}]")
        width = max(len(c.name) for c in table.columns) if table.columns else 0
        dwidth = max(len(c.dtype) for c in table.columns) if table.columns else 0
        lines.append("  columns")
        for column in table.columns:
            lines.append(
                f"    {column.name:<{width}}  {column.dtype:<{dwidth}}  {column.stype.value:<16} {column.evidence}"
            )
        lines.append("")
    if schema.warnings:
        lines.append("warnings")
        lines.extend(f"  - {w}" for w in schema.warnings)
    else:
        lines.append("warnings: none")
    if verbose:
        lines.append("")
        if schema.rejected_keys:
            lines.append("key candidates turned down")
        else:
            lines.append("key candidates turned down: none")
        for r in schema.rejected_keys:
            target = f" -> {r.references}" if r.references else ""
            coverage = f" (coverage {r.coverage:.1%})" if r.coverage is not None else ""
            columns = r.columns[0] if len(r.columns) == 1 else _columns_text(r.columns)
            lines.append(f"  - {r.table}.{columns}{target}{coverage}: {r.reason}")
    return "\n".join(lines)
