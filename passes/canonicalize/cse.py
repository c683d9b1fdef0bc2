"""cse: merge nodes that compute the same thing (same op, inputs, attributes and result
types), duplicate constants included."""
from __future__ import annotations

from qcompiler.passmanager import PassResult, graph_pass
from qcompiler.rewrite import COMMUTATIVE

# opaque ONNX ops that draw random numbers: two of them are not the same value
_RANDOM = {"onnx.RandomNormal", "onnx.RandomUniform", "onnx.RandomNormalLike", "onnx.RandomUniformLike",
           "onnx.Multinomial", "onnx.Bernoulli"}
# where a constant came from does not change what it is
_IGNORED_ATTRS = {"origin"}


def _frozen(x):
    if isinstance(x, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return tuple(_frozen(v) for v in x)
    if isinstance(x, float) and x != x:
        return ("nan",)  # nan != nan, yet two nan attributes mean the same thing
    return x


def _key(node) -> tuple:
    inputs = [id(v) if v is not None else None for v in node.inputs]
    if node.op in COMMUTATIVE:
        inputs.sort(key=str)
    attrs = {k: v for k, v in node.attrs.items() if k not in _IGNORED_ATTRS}
    return node.op, tuple(inputs), _frozen(attrs), tuple(v.type for v in node.outputs)


@graph_pass("cse")
def cse(graph, ctx) -> PassResult:
    """Walk in order and keep the first of each group of equal nodes; later ones are
    replaced by it, which keeps the order topological since the first comes earlier."""
    seen: dict = {}
    merged = 0
    for node in graph:
        if node.op in _RANDOM:
            continue
        key = _key(node)
        first = seen.setdefault(key, node)
        if first is node:
            continue
        for old, new in zip(node.outputs, first.outputs):
            old.replace_all_uses_with(new)
        graph.erase(node)
        merged += 1
    return PassResult(merged > 0, {"merged": merged} if merged else {})
