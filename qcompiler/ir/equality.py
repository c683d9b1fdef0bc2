"""Structural equality of graphs: what the text form preserves, compared exactly.

Two graphs are equal when they have the same name, opset imports, inputs (names, types
and attributes), nodes in the same order (op, attributes with arrays by content, result
names and types) wired the same way (operands compared by position: graph input k or
result j of node i), and the same outputs. `meta` dictionaries are caches and ignored.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .core import Graph, Value
from .dense import Dense
from .errors import QIRError
from .printer import format_attr, format_type


def graphs_equal(a: Graph, b: Graph) -> bool:
    return graph_diff(a, b) is None


def graph_diff(a: Graph, b: Graph) -> Optional[str]:
    """The first difference between `a` and `b` in words, or None when they are equal."""
    if a.name != b.name:
        return f"graph names differ: @{a.name} vs @{b.name}"
    if a.opset_imports != b.opset_imports:
        return f"opset imports differ: {a.opset_imports} vs {b.opset_imports}"
    if a.source_names != b.source_names:
        return f"source names differ: {a.source_names} vs {b.source_names}"
    if len(a.inputs) != len(b.inputs):
        return f"graphs have {len(a.inputs)} vs {len(b.inputs)} inputs"
    for k, (x, y) in enumerate(zip(a.inputs, b.inputs)):
        diff = _value_diff(x, y)
        attrs_x, attrs_y = a.input_attrs.get(x.name, {}), b.input_attrs.get(y.name, {})
        for key in sorted(set(attrs_x) | set(attrs_y)):
            diff = diff or _attr_diff(attrs_x, attrs_y, key, "input")
        if diff:
            return f"input {k}: {diff}"
    if len(a.nodes) != len(b.nodes):
        return f"graphs have {len(a.nodes)} vs {len(b.nodes)} nodes"
    pos_a, pos_b = _positions(a), _positions(b)
    for i, (m, n) in enumerate(zip(a.nodes, b.nodes)):
        where = f"node {i} ({m.label()} vs {n.label()})"
        if m.op != n.op:
            return f"{where}: ops differ"
        ins_a = [pos_a.get(id(v), "outside") if v is not None else None for v in m.inputs]
        ins_b = [pos_b.get(id(v), "outside") if v is not None else None for v in n.inputs]
        if ins_a != ins_b:
            return f"{where}: operands differ: {_operand_text(m.inputs, ins_a)} vs {_operand_text(n.inputs, ins_b)}"
        for k in sorted(set(m.attrs) | set(n.attrs)):
            diff = _attr_diff(m.attrs, n.attrs, k, "node")
            if diff:
                return f"{where}: {diff}"
        if len(m.outputs) != len(n.outputs):
            return f"{where}: {len(m.outputs)} vs {len(n.outputs)} results"
        for j, (x, y) in enumerate(zip(m.outputs, n.outputs)):
            diff = _value_diff(x, y)
            if diff:
                return f"{where}: result {j}: {diff}"
    outs_a = [pos_a.get(id(v), "outside") for v in a.outputs]
    outs_b = [pos_b.get(id(v), "outside") for v in b.outputs]
    if outs_a != outs_b:
        return f"graph outputs differ: {_operand_text(a.outputs, outs_a)} vs {_operand_text(b.outputs, outs_b)}"
    return None


def _positions(g: Graph) -> dict:
    """id(value) -> where it is defined: ("input", k) or ("node", i, j)."""
    pos = {id(v): ("input", k) for k, v in enumerate(g.inputs)}
    for i, n in enumerate(g.nodes):
        pos.update((id(v), ("node", i, j)) for j, v in enumerate(n.outputs))
    return pos


def _operand_text(values, positions) -> str:
    return "(" + ", ".join("None" if v is None else f"%{v.name}@{p}" for v, p in zip(values, positions)) + ")"


def _value_diff(x: Value, y: Value) -> Optional[str]:
    if x.name != y.name:
        return f"names differ: %{x.name} vs %{y.name}"
    if x.type != y.type:
        return f"%{x.name} has type {format_type(x.type)} vs {format_type(y.type)}"
    return None


def _attr_diff(a: dict, b: dict, key: str, owner: str) -> Optional[str]:
    if key not in a or key not in b:
        return f"attribute '{key}' is only on the " + ("first" if key in a else "second") + f" {owner}"
    if not attr_values_equal(a[key], b[key]):
        return f"attribute '{key}' differs: {_show(a[key])} vs {_show(b[key])}"
    return None


def _show(v) -> str:
    try:
        return format_attr(v)
    except QIRError:
        return repr(v)


def attr_values_equal(x, y) -> bool:
    """Equality as the text form sees it: lists and tuples alike, numpy scalars like
    Python numbers, NaN equal to NaN, but bools distinct from ints."""
    if isinstance(x, np.ndarray):
        x = Dense(x)
    if isinstance(y, np.ndarray):
        y = Dense(y)
    kx, ky = _kind(x), _kind(y)
    if kx != ky:
        return False
    if kx == "seq":
        return len(x) == len(y) and all(attr_values_equal(p, q) for p, q in zip(x, y))
    if kx == "dict":
        return x.keys() == y.keys() and all(attr_values_equal(x[k], y[k]) for k in x)
    if kx == "float":
        return (math.isnan(x) and math.isnan(y)) or float(x) == float(y)
    return bool(x == y)


def _kind(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    if isinstance(v, (list, tuple)):
        return "seq"
    if isinstance(v, dict):
        return "dict"
    return type(v).__name__
