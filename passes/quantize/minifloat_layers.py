"""Integer and minifloat layers in one graph: the layers `allocate-bits` gave a minifloat
`q.format` stay float while the integer quantization runs (as if kept float), then get
their minifloat weights (per output channel, the scale method of the pass). Their input
keeps the type its producer has: a minifloat rounding where the producer stayed float,
the producer's integer type where the integer pass quantized it (the layer then reads
those integers dequantized); the lowering dequantizes such an operand like any float op's.
"""
from __future__ import annotations

from qcompiler.passmanager import PassResult

from .keep_float import KEEP_FLOAT, kept_float
from .minifloat import quantize_minifloat


def with_minifloat_layers(graph, ctx, run_integer, method: str) -> PassResult:
    layers = [n for n in graph.nodes if "q.format" in n.attrs and not kept_float(n)]
    if not layers:
        return run_integer()
    for node in layers:
        node.attrs[KEEP_FLOAT] = True
    try:
        integer = run_integer()
    finally:
        for node in layers:
            del node.attrs[KEEP_FLOAT]
            node.attrs.pop("q.float", None)  # the integer pass's "kept float" mark
    minifloat = quantize_minifloat(graph, ctx, None, None, "channel", method, only={id(n) for n in layers})
    return PassResult(integer.changed or minifloat.changed,
                      {**integer.stats, "minifloat_layers": minifloat.stats["weights"]})
