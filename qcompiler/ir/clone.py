"""`clone(graph)`: an independent copy of a graph, equal to it (ir/equality.py).

Cheaper and exact where a print/parse round trip would re-infer types and re-read
numbers: nodes, values and attribute containers are new, while `Dense` arrays and types
(immutable) are shared. `meta` caches are not copied.
"""
from __future__ import annotations

from .core import Graph, Node


def clone(graph: Graph) -> Graph:
    copy = Graph(graph.name)
    copy.opset_imports = dict(graph.opset_imports)
    copy.source_names = {k: list(v) for k, v in graph.source_names.items()}
    copy.input_attrs = {name: _copy_attr(attrs) for name, attrs in graph.input_attrs.items()}
    mapping = {}
    for v in graph.inputs:
        mapping[id(v)] = copy.add_input(v.name, v.type)
    for node in graph.nodes:
        inputs = [mapping[id(v)] if v is not None else None for v in node.inputs]
        new = Node(node.op, inputs, [v.type for v in node.outputs], _copy_attr(node.attrs),
                   [v.name for v in node.outputs])
        copy.append(new)
        for old, made in zip(node.outputs, new.outputs):
            mapping[id(old)] = made
    copy.set_outputs(mapping[id(v)] for v in graph.outputs)
    return copy


def _copy_attr(value):
    # lists and dicts inside attributes are mutable (a pass may append to a q.range
    # list); everything else in an attribute is immutable
    if isinstance(value, dict):
        return {k: _copy_attr(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_attr(v) for v in value]
    return value
