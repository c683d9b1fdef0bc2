"""`quantize-residual{terms=2, bits=4, select=sqnr|sensitivity, threshold=...}`: layers
whose single low-bit weight approximates the float weight poorly get W ~ s1*Q1 + s2*Q2
(+ ...), each term quantizing the residual of the ones before (residual_terms.py).

The graph form (docs/residual.md): the layer reads its input concatenated `terms` times
along the channel axis (a grouped conv: each group's channels `terms` times in a row, by
a gather), and one weight of `terms` x C_in input channels quantized per
group of C_in, so each group is one term with its own per-output-channel scales. That is
an ordinary group-wise product: `lower` gives every term's exact int32 partial sum its
own multiplier and adds them in one int64 fixed-point sum before the single
requantization, which the reference, the Numba backend and the integer ONNX export
already compute bit-identically. Runs after `quantize`, which leaves the float weights
in the const's meta; a layer whose float weights are gone (a graph read back from a
.qir) is refused by name.

select=sqnr takes layers whose quantized weight's SQNR against the float weight is below
`threshold` dB (default 20 unless `top` is given); select=sensitivity those whose `q.sens`
at the layer's width, from the sensitivity pass, is at least `threshold`. `top=N` keeps
the N worst of those (lowest SQNR, highest q.sens): where the output needs it most.
select=allocated takes the layers allocate-bits gave a "TxB" choice (`q.residual = T`),
each with its own number of terms (bits: the layer's q.bits, which quantize used).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.types import STORAGE_RANGES, QuantType
from qcompiler.numerics.affine import dequantize
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass

from .errors import QuantizeError
from .residual_terms import reconstruct, residual_terms

LAYERS = ("conv1d", "conv2d", "linear")
SELECTIONS = ("sqnr", "sensitivity", "allocated")
ALLOCATED_ATTR = "q.residual"  # written by allocate-bits for a "TxB" choice (passes/allocation/residual_choice.py)
DEFAULT_SQNR_THRESHOLD = 20.0
TERMS_ATTR = "q.residual_terms"


@register_pass
@dataclass(frozen=True)
class QuantizeResidual(Pass):
    name: ClassVar[str] = "quantize-residual"
    terms: int = 2
    bits: int = 4
    select: str = "sqnr"
    threshold: Optional[float] = None
    top: Optional[int] = None

    def __post_init__(self):
        if not 2 <= self.terms <= 4:
            raise ValueError(f"terms must be 2, 3 or 4, got {self.terms}")
        if f"i{self.bits}" not in STORAGE_RANGES or self.bits > 8:
            raise ValueError(f"bits={self.bits}: a term is a signed integer of 2, 4 or 8 bits")
        if self.select not in SELECTIONS:
            raise ValueError(f"select={self.select!r}: expected one of {list(SELECTIONS)}")
        if self.select == "sensitivity" and self.threshold is None and self.top is None:
            raise ValueError("select=sensitivity needs threshold= (the q.sens score from which a layer is "
                             "residual) or top=N")
        if self.top is not None and self.top < 1:
            raise ValueError(f"top must be at least 1, got {self.top}")

    @property
    def storage(self) -> str:
        return f"i{self.bits}"

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        candidates = [(node, _weight_sqnr(node)) for node in graph.nodes if _candidate(node, ctx)]
        scored = [(self._badness(node, sqnr), node, sqnr) for node, sqnr in candidates]
        scored = [item for item in scored if self._bad_enough(item[0])]
        scored.sort(key=lambda item: -item[0])
        chosen = []
        for _, node, single in scored[:self.top]:
            terms, storage = self._terms_storage(node)
            after = _make_residual(graph, node, terms, storage)
            chosen.append(node.outputs[0].name)
            ctx.note(f"{terms} x int{storage[1:]} residual weight: SQNR {single:.1f} -> {after:.1f} dB",
                     node=node.outputs[0].name)
        if self.select == "allocated":
            for node in graph.nodes:
                if node.attrs.get(ALLOCATED_ATTR) and node.outputs[0].name not in chosen:
                    ctx.warn("allocate-bits chose residual weights, but the layer cannot take them: it keeps one "
                             "tensor", node=node.outputs[0].name)
        return PassResult(bool(chosen), {"residual": chosen})

    def _terms_storage(self, node: Node) -> tuple:
        if self.select != "allocated":
            return self.terms, self.storage
        return int(node.attrs[ALLOCATED_ATTR]), node.inputs[1].type.storage

    def _badness(self, node: Node, single_sqnr: float) -> float:
        """Larger is worse: the negated weight SQNR, or the layer's q.sens at its width
        (with select=allocated: 1 for an allocated layer, 0 for the others)."""
        if self.select == "sqnr":
            return -single_sqnr
        if self.select == "allocated":
            return float(bool(node.attrs.get(ALLOCATED_ATTR)))
        scores = node.attrs.get("q.sens")
        if scores is None:
            raise QuantizeError(f"quantize-residual{{select=sensitivity}}: {node.label()} has no q.sens; "
                                "run sensitivity before it")
        width = str(node.inputs[1].type.bits)
        if width not in scores:
            raise QuantizeError(f"quantize-residual: {node.label()}'s q.sens has widths {sorted(scores)}, "
                                f"not its weight's {width} bits; measure it with sensitivity{{bits=[...]}}")
        return float(scores[width])

    def _bad_enough(self, badness: float) -> bool:
        if self.select == "allocated":
            return badness > 0
        threshold = self.threshold
        if threshold is None and self.select == "sqnr" and self.top is None:
            threshold = DEFAULT_SQNR_THRESHOLD
        if threshold is None:
            return True
        return -badness < threshold if self.select == "sqnr" else badness >= threshold


def _candidate(node: Node, ctx: PassContext) -> bool:
    """A quantized conv/linear with one per-channel or per-tensor weight and a per-tensor
    quantized input; others are named in a note when they are quantized at all."""
    if node.op not in LAYERS or len(node.inputs) < 2 or node.inputs[1] is None:
        return False
    x, w = node.inputs[0], node.inputs[1]
    if not isinstance(w.type, QuantType) or w.producer is None or w.producer.op != "const":
        return False
    if node.attrs.get(TERMS_ATTR):
        return False
    reason = None
    if w.type.group is not None:
        reason = "its weight is already group-wise"
    elif not isinstance(x.type, QuantType) or x.type.axis is not None:
        reason = "its input is not quantized per tensor"
    if reason:
        ctx.note(f"no residual weight: {reason}", node=node.outputs[0].name)
        return False
    return True


def _float_weight(node: Node) -> np.ndarray:
    const = node.inputs[1].producer
    array = const.meta.get("float_value")
    if array is None:
        raise QuantizeError(f"quantize-residual: {node.label()}'s weight %{node.inputs[1].name} has no float "
                            "values left (they live until the graph is saved); run it in the pipeline that runs "
                            "quantize")
    return array


def _weight_sqnr(node: Node) -> float:
    w = node.inputs[1]
    return sqnr_db(_float_weight(node), dequantize(Graph.const_value(w), w.type))


def _make_residual(graph: Graph, node: Node, terms: int, storage: str) -> float:
    """Rewrite `node` to read its input `terms` times and the stacked terms; returns the
    weight SQNR of their sum."""
    w_value, x = node.inputs[1], node.inputs[0]
    array = _float_weight(node)
    found = residual_terms(array, terms, storage)
    cin = array.shape[1]
    q = np.concatenate([t for t, _ in found], axis=1)
    kernel = (1,) * (array.ndim - 2)
    scale = np.stack([s.reshape((-1,) + kernel) for _, s in found], axis=1)  # [Cout, terms, 1...]
    scale = np.ascontiguousarray(np.broadcast_to(scale, (array.shape[0], terms) + array.shape[2:]), np.float32)
    t = QuantType(storage, w_value.type.expressed, q.shape, scale, np.zeros(scale.shape, np.int32),
                  axis=1, group=cin)
    old = w_value.producer
    origin = old.attrs.get("origin")
    stacked = graph.constant(q, name=f"{w_value.name}_residual", origin=origin, type=t, before=node)
    stacked.producer.meta["float_value"] = array
    axis = 1 if node.op != "linear" else x.type.rank - 1
    shape = list(x.type.shape)
    shape[axis] = shape[axis] * terms if isinstance(shape[axis], int) else cin * terms
    groups = node.attrs.get("groups", 1)
    if groups == 1:
        node.set_input(0, _repeated(graph, node, x, terms, axis, shape))
    else:
        node.set_input(0, _repeated_per_group(graph, node, x, terms, groups, cin, shape))
    node.set_input(1, stacked)
    if not w_value.uses and not any(o is w_value for o in graph.outputs):
        graph.erase(old)
    node.attrs[TERMS_ATTR] = terms
    node.attrs["q.bits"] = int(storage[1:])
    return sqnr_db(array, reconstruct(found, axis=0))


def _repeated(graph: Graph, node: Node, x, terms: int, axis: int, shape: list):
    """`x` concatenated `terms` times along `axis`, shared by every residual layer reading
    x (layers are rewritten in graph order, so an earlier one's concat precedes `node`)."""
    for user in x.users:
        if user.op == "concat" and user.attrs.get("axis") == axis and list(user.inputs) == [x] * terms:
            return user.outputs[0]
    return graph.add("concat", [x] * terms, {"axis": axis}, name=f"{x.name}_x{terms}", before=node,
                     output_types=[x.type.with_shape(shape)]).outputs[0]


def _repeated_per_group(graph: Graph, node: Node, x, terms: int, groups: int, cin: int, shape: list):
    """For a grouped conv, each group's channels `terms` times in a row ([x_g, x_g, x_{g+1}, ...]),
    so group g of the stacked weight (its terms side by side) reads its own channels: a
    gather of x's channels, a pass-through on storage."""
    index = np.array([g * cin + i for g in range(groups) for _ in range(terms) for i in range(cin)], np.int64)
    indices = graph.constant(index, name=f"{node.outputs[0].name}_terms_index", before=node)
    return graph.add("gather", [x, indices], {"axis": 1}, name=f"{node.outputs[0].name}_terms_input", before=node,
                     output_types=[x.type.with_shape(shape)]).outputs[0]
