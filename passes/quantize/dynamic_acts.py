"""quantize{acts=dynamic}: onnxruntime's quantize_dynamic, the baseline transformer users
compare against. Every linear with a constant float weight becomes `dynamic_qlinear`:
int8 weights with one symmetric scale per output channel (max |w| / 127, as
onnxruntime's per-channel mode), the input quantized to u8 per call from its own min
and max (qcompiler/ir/ops/quant_dynamic.py). Nothing else is quantized: every other
value stays float, so calibration ranges are not read. A linear with a fused activation
or `q.keep_float` stays float (with a note for the former). `act_granularity=token`
(quantize{acts=dynamic, act_granularity=token}) gives each row of the input its own
run-time scale and zero point instead of one per call."""
from __future__ import annotations

import numpy as np
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import quantize
from qcompiler.passmanager import PassResult

from .keep_float import kept_float

DYNAMIC = "dynamic"
ACT_GRANULARITIES = ("tensor", "token")


def _weight_type(w: np.ndarray, shape) -> QuantType:
    peak = np.abs(w).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    return QuantType("i8", "f32", shape, scale, np.zeros(w.shape[0], np.int32), axis=0)


def quantize_dynamic(graph: Graph, ctx, act_granularity: str = "tensor") -> PassResult:
    converted = 0
    for node in list(graph.nodes):
        if node.op != "linear" or kept_float(node):
            continue
        w = graph.const_value(node.inputs[1])
        if w is None or node.inputs[0].type.dtype != "f32" or w.dtype != np.float32:
            continue
        if node.attrs.get("activation", "none") != "none":
            ctx.note(f"{node.label()}: a fused {node.attrs['activation']} keeps this linear float under "
                     f"acts=dynamic", node=node.output.name)
            continue
        t = _weight_type(w, node.inputs[1].type.shape)
        weight = graph.constant(quantize(w, t).astype(np.int8), type=t, origin=node.inputs[1].producer.attrs.get("origin"))
        weight.producer.meta["float_value"] = w
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        replacement = graph.add("dynamic_qlinear", [node.inputs[0], weight, bias], {"granularity": act_granularity},
                                name=f"{node.output.name}_dq", before=node)
        node.output.replace_all_uses_with(replacement.output)
        old = node.inputs[1].producer
        graph.erase(node)
        if not old.outputs[0].uses:
            graph.erase(old)
        graph.rename(replacement.output, node.output.name)
        converted += 1
    return PassResult(bool(converted), {"dynamic_linears": converted})
