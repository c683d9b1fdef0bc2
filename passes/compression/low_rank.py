"""low-rank: a linear or conv layer as two thinner layers, W ≈ U·V by truncated SVD.

    linear(x, W[out,in], b)           -> linear(linear(x, V[r,in]), U[out,r], b)
    conv2d(x, W[Cout,Cin,kh,kw], b)   -> conv2d(conv2d(x, V[r,Cin,kh,kw]), U[Cout,r,1,1], b)

The first layer keeps the conv geometry (stride, pads, dilation, padding mode); the
second is a 1×1 conv that takes over the bias, the fused activation, the `q.*`
decisions and the name of the result. The rank of each layer is its `q.rank` attribute
(set by an allocator), else the `rank` option, else the smallest rank that keeps
`energy` of the squared singular values. A layer is left alone when factoring saves
less than `min_saving` of its weight parameters (a note says so), when its weight is
shared with another layer, and for grouped convs. Both new layers record `q.rank`.
Weight origins get the suffixes `.v` (first) and `.u` (second), so the torch executor
makes them trainable parameters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.ops.fused import FUSED_ACTIVATION_ATTRS
from qcompiler.ir.registry import get_op
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass

from .errors import CompressionError, CompressionOptionError
from .factorization import Factors, factorize, parameter_saving, rank_for_energy, singular_values
from .layers import is_compressible

RANK_ATTR = "q.rank"
# decisions about the weight precision apply to both factors; the others describe the result
SHARED_DECISIONS = ("q.bits", "q.granularity")


@register_pass
@dataclass(frozen=True)
class LowRank(Pass):
    name: ClassVar[str] = "low-rank"
    energy: float = 0.95
    rank: Optional[int] = None
    min_saving: float = 0.1

    def __post_init__(self):
        if not 0.0 < self.energy <= 1.0:
            raise CompressionOptionError(f"low-rank: energy={self.energy} must be in (0, 1]")
        if self.rank is not None and (isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1):
            raise CompressionOptionError(f"low-rank: rank={self.rank!r} must be a positive integer")
        if not self.min_saving < 1.0:
            raise CompressionOptionError(f"low-rank: min_saving={self.min_saving} must be below 1")

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        layers, before, after = {}, 0, 0
        for node in list(graph.nodes):
            if not is_compressible(node) or not self._factorable(node, ctx):
                continue
            w = graph.const_value(node.inputs[1])
            matrix = w.reshape(w.shape[0], -1)
            rank = self._rank(node, matrix)
            saving = parameter_saving(*matrix.shape, min(rank, min(matrix.shape)))
            if saving < self.min_saving:
                ctx.note(f"{node.label()}: rank {rank} of a {list(matrix.shape)} weight saves {saving:.1%} of its "
                         f"parameters, below min_saving={self.min_saving:.1%}; left as is", node=node.outputs[0].name)
                continue
            name = node.outputs[0].name
            factors = factorize(matrix, rank)
            _split(graph, node, factors)
            layers[name] = {"rank": factors.rank, "saving": saving, "energy": factors.energy}
            before += matrix.size
            after += factors.first.size + factors.second.size
        stats = {"factored": len(layers), "params_before": before, "params_after": after, "layers": layers}
        return PassResult(bool(layers), stats)

    def _factorable(self, node: Node, ctx: PassContext) -> bool:
        where = node.outputs[0].name
        if node.attrs.get("groups", 1) != 1:
            ctx.note(f"{node.label()}: grouped conv (groups={node.attrs['groups']}) is not factored", node=where)
            return False
        if len(node.inputs[1].users) > 1:
            ctx.note(f"{node.label()}: weight %{node.inputs[1].name} is shared with other layers; not factored",
                     node=where)
            return False
        return True

    def _rank(self, node: Node, matrix: np.ndarray) -> int:
        rank = node.attrs.get(RANK_ATTR, self.rank)
        if rank is None:
            return rank_for_energy(singular_values(matrix), self.energy)
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
            raise CompressionError(f"node {node.label()}: {RANK_ATTR} = {rank!r} is not a positive integer rank")
        return int(rank)


def _split(graph: Graph, node: Node, factors: Factors) -> None:
    """Replace `node` by its two factor layers; the second takes over the result's name."""
    x, w = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    array = graph.const_value(w)
    spatial = array.ndim - 2
    origin = w.producer.attrs.get("origin")
    first_w = graph.constant(factors.first.reshape((factors.rank,) + array.shape[1:]).astype(array.dtype),
                             name=f"{w.name}.v", origin=origin and f"{origin}.v")
    second_w = graph.constant(factors.second.reshape(factors.second.shape + (1,) * spatial).astype(array.dtype),
                              name=f"{w.name}.u", origin=origin and f"{origin}.u")
    first_attrs, second_attrs = _split_attrs(node, factors.rank)
    name = node.outputs[0].name
    first = graph.add(node.op, [x, first_w], first_attrs, name=f"{name}.low_rank", before=node)
    second = graph.add(node.op, [first.output, second_w] + ([bias] if bias is not None else []), second_attrs,
                       before=node)
    node.output.replace_all_uses_with(second.output)
    graph.erase(node)
    graph.rename(second.output, name)
    if not w.uses:
        graph.erase(w.producer)


def _split_attrs(node: Node, rank: int) -> tuple:
    """(first, second): the geometry goes first, the activation and decisions second."""
    schema = get_op(node.op).attrs
    first = {k: v for k, v in node.attrs.items() if k in schema and k not in FUSED_ACTIVATION_ATTRS}
    first.update({k: node.attrs[k] for k in SHARED_DECISIONS if k in node.attrs})
    second = {k: v for k, v in node.attrs.items() if k not in first or k in SHARED_DECISIONS}
    first[RANK_ATTR] = second[RANK_ATTR] = rank
    return first, second
