"""The feature expressions of the temporal feature builder, compiled once to NumPy functions.

For a handful of rows, an SQL engine's per-statement cost dominates: DuckDB spent ~500-600 ms (on
loaded shared cores; ~2/3 of it planning) on ~250 feature expressions for one row. The expressions are the builder's
own SQL text (:mod:`~relgraph.baselines.feature_plan`), from a small grammar: struct fields
(``R.x0_n``), numbers and strings, ``+ - * /``, comparisons, ``AND``, ``coalesce``, ``nullif``,
``greatest``, ``sqrt``, ``epoch`` and ``CASE``. :func:`compile_feature` parses one with sqlglot
and returns a function of the input columns; anything outside the grammar raises
:class:`Uncompilable` and the caller keeps the SQL engine. The text stays the one definition of a
feature: the small-batch path evaluates it here, the batch path in SQL, and
``tests/baselines/test_feature_small.py`` checks they agree.

SQL NULL is NaN (numbers) or None (text): arithmetic propagates it as SQL does, a comparison with
it is false (a CASE branch or a conjunct it decides is not taken, as in SQL), ``coalesce`` and
``greatest`` skip it. ``epoch`` of a timestamp is seconds with microseconds, as DuckDB's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Input columns by table alias (``R``, ``W30``, ``X``, ``E``) and field name.
Columns = Mapping[str, Mapping[str, np.ndarray]]
Compiled = Callable[[Columns], np.ndarray]


class Uncompilable(Exception):
    """An expression outside the grammar :func:`compile_feature` knows."""


def as_column(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An Arrow column as :func:`compile_feature`'s functions read it: float64 with NaN for
    null (timestamps as epoch seconds), or an object array of text with None."""
    t = values.type
    if pa.types.is_timestamp(t):
        ns = pc.cast(pc.cast(values, pa.timestamp("ns")), pa.int64()).to_numpy(zero_copy_only=False)
        missing = np.isnan(ns) if ns.dtype.kind == "f" else np.zeros(len(ns), dtype=bool)
        ns = np.where(missing, 0, ns).astype(np.int64)
        micros = ns // 1000  # DuckDB's epoch: nanoseconds floored to microseconds
        return np.where(missing, np.nan, micros / 1e6)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t):
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return np.array(values.to_pylist(), dtype=object)
    raise Uncompilable(f"column type {t}")


def compile_feature(sql: str) -> Compiled:
    """``sql`` (one feature expression of the builder) as a function of the input columns.

    Expressions of one shape (``R.x0_s1 / nullif(R.x0_n, 0) + 3.0`` and ``R.x4_s1 / nullif(R.x4_n,
    0) + 12.0``) differ only in their columns and literals: each shape is parsed once
    (:func:`_template`) and bound to the expression's own (parsing is most of a plan's time)."""
    columns: list[tuple[str, str]] = []
    values: list[Any] = []

    def column(m: re.Match[str]) -> str:
        columns.append((m.group(1), m.group(2)))
        return f"{_PLACE}.c{len(columns) - 1}"

    def value(m: re.Match[str]) -> str:
        text = m.group(0)
        values.append(text[1:-1].replace("''", "'") if text.startswith("'") else float(text))
        return f"{_VALUE}.v{len(values) - 1}"

    shape = _NUMBER.sub(value, _COLUMN.sub(column, _STRING.sub(value, sql)))
    if "'" in shape:
        raise Uncompilable(f"a quote left in {sql!r}")
    fn = _template(shape)
    names = [f"c{i}" for i in range(len(columns))]
    bound = {_VALUE: {f"v{i}": v for i, v in enumerate(values)}}
    # The frame's columns (X) stay: they give the row count to an expression of literals.
    return lambda cols: fn({_PLACE: {n: cols[t][c] for n, (t, c) in zip(names, columns)}, "X": cols.get("X", {}), **bound})


# Placeholders of a shape: the expression's columns and its literals (tables no feature uses).
_PLACE, _VALUE = "Q__", "V__"
# Strings first (they may hold anything), then qualified columns (R.x0_n, W30.__cnt), then numbers.
_STRING = re.compile(r"'(?:[^']|'')*'")
_COLUMN = re.compile(r"\b([A-Z][A-Za-z0-9]*)\.([A-Za-z_][A-Za-z0-9_]*)")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?![\w.])")


@functools.lru_cache(maxsize=4096)
def _template(sql: str) -> Compiled:
    """One shape of expression parsed and compiled (cached)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(f"SELECT {sql}", read="duckdb").expressions[0]
    except sqlglot.errors.ParseError as err:
        raise Uncompilable(str(err)) from err
    return _compile(tree, exp)


def _compile(node: Any, exp: Any) -> Compiled:  # noqa: C901 - one branch per construct
    c = lambda n: _compile(n, exp)  # noqa: E731
    if isinstance(node, exp.Paren):
        return c(node.this)
    if isinstance(node, exp.Column):
        table, name = node.table, node.name
        if not table:
            raise Uncompilable(f"column {name} without its table")
        return lambda cols: cols[table][name]
    if isinstance(node, exp.Literal):
        value: Any = node.this if node.is_string else float(node.this)
        return lambda cols: value
    if isinstance(node, exp.Neg):
        f = c(node.this)
        return lambda cols: -f(cols)
    binary = {exp.Add: np.add, exp.Sub: np.subtract, exp.Mul: np.multiply, exp.Div: _divide,
              exp.GT: np.greater, exp.GTE: np.greater_equal, exp.LT: np.less, exp.LTE: np.less_equal}
    for kind, op in binary.items():
        if type(node) is kind:
            f, g = c(node.this), c(node.expression)
            return lambda cols: op(f(cols), g(cols))
    if type(node) is exp.EQ:
        f, g = c(node.this), c(node.expression)
        return lambda cols: _equal(f(cols), g(cols))
    if type(node) is exp.And:
        f, g = c(node.this), c(node.expression)
        return lambda cols: np.logical_and(f(cols), g(cols))
    if isinstance(node, exp.Coalesce):
        parts = [c(node.this)] + [c(e) for e in node.expressions]
        return lambda cols: _coalesce([p(cols) for p in parts])
    if isinstance(node, exp.Nullif):
        f, g = c(node.this), c(node.expression)
        return lambda cols: _nullif(f(cols), g(cols))
    if isinstance(node, exp.Greatest):
        parts = [c(node.this)] + [c(e) for e in node.expressions]
        return lambda cols: _greatest([p(cols) for p in parts])
    if isinstance(node, exp.Sqrt):
        f = c(node.this)
        return lambda cols: _sqrt(f(cols))
    if isinstance(node, exp.TimeToUnix):
        return c(node.this)  # timestamps are read as epoch seconds already (as_column)
    if isinstance(node, exp.Case) and node.this is None:
        branches = [(c(b.this), c(b.args["true"])) for b in node.args.get("ifs", [])]
        default = c(node.args["default"]) if node.args.get("default") is not None else None
        return lambda cols: _case(branches, default, cols)
    raise Uncompilable(f"{type(node).__name__} in a feature expression")


def _broadcast(value: Any, like: np.ndarray | None, n: int) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, str):
        return np.full(n, value, dtype=object)
    return np.full(n, np.nan if value is None else value, dtype=np.float64)


def _rows(values: list[Any]) -> int:
    return next((len(v) for v in values if isinstance(v, np.ndarray)), 1)


def _divide(a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(a, b)
    return np.where(np.asarray(b) == 0, np.nan, out) if np.ndim(out) else (np.nan if b == 0 else out)  # SQL: NULL


def _equal(a: Any, b: Any) -> Any:
    return np.equal(a, b)


def _missing(v: np.ndarray) -> np.ndarray:
    return np.isnan(v) if v.dtype.kind == "f" else np.array([x is None for x in v], dtype=bool)


def _coalesce(values: list[Any]) -> np.ndarray:
    n = _rows(values)
    out = _broadcast(values[0], None, n).copy()
    for v in values[1:]:
        gap = _missing(out)
        if not gap.any():
            break
        out[gap] = _broadcast(v, out, n)[gap]
    return out


def _nullif(a: Any, b: Any) -> np.ndarray:
    a = _broadcast(a, None, _rows([a, b]))
    return np.where(np.equal(a, b), np.nan, a)


def _greatest(values: list[Any]) -> np.ndarray:
    n = _rows(values)
    return np.fmax.reduce([_broadcast(v, None, n) for v in values])


def _sqrt(a: Any) -> Any:
    with np.errstate(invalid="ignore"):
        out = np.sqrt(a)
    return out


def _case(branches: list[tuple[Compiled, Compiled]], default: Compiled | None, cols: Columns) -> np.ndarray:
    n = next((len(v) for t in cols.values() for v in t.values() if isinstance(v, np.ndarray)), 1)
    out: np.ndarray | None = None
    decided = np.zeros(n, dtype=bool)
    for cond, value in branches:
        take = np.asarray(cond(cols), dtype=bool) & ~decided
        v = value(cols)
        if out is None:
            out = np.full(n, None, dtype=object) if isinstance(v, str) or (isinstance(v, np.ndarray) and v.dtype == object) \
                else np.full(n, np.nan, dtype=np.float64)
        if take.any():
            out[take] = _broadcast(v, out, n)[take]
        decided |= take
    if default is not None and out is not None and (~decided).any():
        out[~decided] = _broadcast(default(cols), out, n)[~decided]
    return out if out is not None else np.full(n, np.nan)
