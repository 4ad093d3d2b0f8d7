"""Imports point one way: each part of relgraph imports only parts of lower layers (see
ARCHITECTURE.md), including imports inside functions, and no module imports itself back through
others. Read from the source (AST), so nothing is imported and no torch is needed."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "relgraph"

#: Layer of each part (top-level module or subpackage); a part imports only lower layers.
LAYERS: dict[str, int] = {
    "errors": 0,
    "json_values": 0,
    "stages": 0,  # timing and progress of a run's stages; imports no relgraph part
    "connectors": 1,  # sources, and write-back into them
    "schema": 2,
    "database": 3,
    "engines": 4,  # where SQL runs: DuckDB (embedded) or Spark
    "schema_check": 5,
    "graph": 5,
    "query": 5,
    "metrics": 5,
    "nn": 5,  # torch modules only, no relgraph import
    "sampling": 6,
    "predictor": 6,
    "gnn": 7,
    "baselines": 7,
    "runs": 8,
    "demo": 9,
    "serve": 9,  # the HTTP service over runs (and their explanations)
    "cli": 10,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str | None:
    """``relgraph.gnn.ranking`` -> ``gnn``; the package's own ``__init__`` has no part."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skipped


def _imports(path: Path, modules: set[str]) -> set[str]:
    """relgraph modules ``path`` imports at run time, anywhere in the file."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("relgraph"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("relgraph"):
            for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(files)) - {name} for name, path in files.items()}


def test_every_part_has_a_layer() -> None:
    parts = {_part(m) for m in _graph()} - {None}
    assert parts == set(LAYERS), f"give these parts a layer: {sorted(parts - set(LAYERS))}"


def test_imports_only_point_down() -> None:
    wrong = []
    for module, imported in _graph().items():
        source = _part(module)
        for target in imported:
            dest = _part(target)
            if source is None or dest is None or dest == source:
                continue
            if LAYERS[dest] >= LAYERS[source]:
                wrong.append(f"{module} imports {target} ({source}: layer {LAYERS[source]}, {dest}: layer {LAYERS[dest]})")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)
