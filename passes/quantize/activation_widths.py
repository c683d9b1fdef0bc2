"""Per-layer activation widths: `q.act_bits` on a layer (written by allocate-bits) chooses
the storage of the activation the layer reads (its data operand, input 0) — HAWQ's
convention: a layer's widths are those of its weights and of its input activation.

Bits become storage with the signedness of the default activation storage (u4 next to
u8, i4 next to i8); a target without that signedness at that width takes the other one
silently (both hold 2^b levels; only the zero point moves); a width the target cannot
run falls back to the nearest one it can, with a warning naming the node, as weights do.
A value has one type, so every value of a tie group (ties.py: pass-through results,
concat operands) takes one storage; when the widths its readers ask for still disagree
(the allocator ties them, so only hand-written or edited `q.act_bits` do), the widest
wins, with a warning. Values no layer asks for keep the default storage.

Under a default narrower than 4 bits (u2, i2), the first and last layers that ask for
nothing keep 8-bit input activations and weights (`q.act_bits = q.bits = 8` written on
them, with a note), the logits (values a graph output follows from without another
layer) are stored in 8 bits, and under binary activations so are the values an op without a
binary kernel makes or reads (the residual stream):
passes/calibration/activation_bits.py says which and why, and calibrate searches their
ranges at that width too.
"""
from __future__ import annotations

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.types import STORAGE_BITS
from qcompiler.targets import Target

from ..calibration.activation_bits import EDGE_BITS, LOW_ACT_BITS, edge_layers, not_binary, output_side
from .errors import QuantizeError
from .ties import UnionFind


def activation_bits(node: Node):
    """`q.act_bits` on the node, or None."""
    bits = node.attrs.get("q.act_bits")
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 32):
        raise QuantizeError(f"node {node.label()}: q.act_bits = {bits!r} is not a bit width in 1..32")
    return bits


def storage_for_bits(node: Node, bits: int, default: str, target: Target, ctx) -> str:
    """The activation storage the target runs for `bits`, as the module doc describes."""
    supported = target.activation_storage
    sign = default[0]

    def rank(s: str) -> tuple:  # same width, then the nearest (wider before narrower), the default's signedness
        width = STORAGE_BITS[s]
        return (width != bits, width < bits, abs(width - bits), s[0] != sign)

    chosen = min(supported, key=rank)
    if STORAGE_BITS[chosen] != bits:
        ctx.warn(f"{node.label()}: {bits}-bit input activations are not supported by target '{target.name}' "
                 f"(it runs {', '.join(supported)}); using {chosen}", node=node.outputs[0].name if node.outputs else "")
    return chosen


def keep_edge_layers_wide(graph: Graph, default: str, ctx) -> int:
    """Mark the edge layers as the module doc says; returns how many were marked."""
    if STORAGE_BITS[default] >= LOW_ACT_BITS:
        return 0
    marked = [node for node in edge_layers(graph) if "q.act_bits" not in node.attrs]
    for node in marked:
        node.attrs["q.act_bits"] = EDGE_BITS
        node.attrs.setdefault("q.bits", EDGE_BITS)
    if marked:
        ctx.note(f"{default} activations: the first and last layers ({', '.join(n.label() for n in marked)}) keep "
                 f"{EDGE_BITS}-bit input activations and weights, as is standard below 4 bits; give them q.act_bits "
                 f"and q.bits to choose otherwise")
    return len(marked)


class ActivationWidths:
    """The storage of every activation, one per tie group of `sets`. Built before the weight
    plans, it marks the edge layers first (keep_edge_layers_wide), so their `q.bits` holds then."""

    def __init__(self, graph: Graph, sets: UnionFind, default: str, target: Target, ctx):
        self.sets, self.default = sets, default
        keep_edge_layers_wide(graph, default, ctx)
        requests: dict = {}  # tie-group root -> [(reading layer, storage)]
        for node in graph.nodes:
            bits = activation_bits(node)
            if bits is not None and node.inputs and node.inputs[0] is not None:
                storage = storage_for_bits(node, bits, default, target, ctx)
                requests.setdefault(sets.find(node.inputs[0]), []).append((node, storage))
        if STORAGE_BITS[default] < LOW_ACT_BITS:  # the logits too (output_side), and a binary default's
            ends = output_side(graph) | (not_binary(graph) if STORAGE_BITS[default] == 1 else set())  # real stream
            wide = [v for v in graph.values() if id(v) in ends and v.producer is not None]
            for v in wide:
                if sets.find(v) not in requests:
                    requests[sets.find(v)] = [(v.producer, storage_for_bits(v.producer, EDGE_BITS, default, target, ctx))]
        self.by_group = {root: _agreed(sets.values[root], asked, ctx) for root, asked in requests.items()}

    def storage(self, v: Value) -> str:
        return self.by_group.get(self.sets.find(v), self.default)


def _agreed(value: Value, asked: list, ctx) -> str:
    widest = max((storage for _, storage in asked), key=lambda s: STORAGE_BITS[s])
    if len({storage for _, storage in asked}) > 1:
        readers = ", ".join(f"{node.label()} asks for {storage}" for node, storage in asked)
        ctx.warn(f"%{value.name} (and the values tied to it) are read by layers asking for different activation "
                 f"widths ({readers}); using the widest, {widest}, for all of them", node=value.name)
    return widest
