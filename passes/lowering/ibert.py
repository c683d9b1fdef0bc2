"""I-BERT integer kernels for the ops `transformer-recipe{integer=...}` marked with
`q.integer = "ibert"` (qcompiler/ir/ops/quant_ibert.py). They come first in lower's rules,
ahead of the table lookups, so a marked gelu becomes ibert_gelu rather than a qlut.

- softmax / masked_softmax over the last axis, quantized in (<= 16 bits) and out -> ibert_softmax
  (a masked_softmax only with fill=-inf and zero_empty_rows, what the integer kernel
  computes: masked positions out, a row with nothing kept gives 0);
- gelu (erf form), quantized in (<= 16 bits) and out -> ibert_gelu;
- layer_norm over the last axis with constant γ/β -> ibert_layer_norm. The recipe keeps
  the residual stream float, so a float operand is quantized to i32 and a float result
  comes back through a dequantize: both at max|calibrated range| / 2^20, which leaves
  2^11 times the range before saturating and keeps the stream's outlier channels.

A marked op these conditions exclude stays as it was (float, or a table lookup).
"""
from __future__ import annotations

import math

import numpy as np

from qcompiler.ir.ops.infer import plain
from qcompiler.ir.registry import get_op
from qcompiler.ir.types import QuantType
from qcompiler.rewrite import Op, Rule, Var

from .quant_params import is_quant, per_tensor, same_params

IBERT = "ibert"
WIDE_STORAGE, WIDE_RANGE_BITS = "i32", 20


def marked(node) -> bool:
    return node.attrs.get("q.integer") == IBERT


def _last_axis(node) -> bool:
    axis = node.attrs.get("axis", -1)
    return axis == -1 or axis == node.inputs[0].type.rank - 1


def _result_type(node):
    """The quantized type an integer kernel writes: the node's own, else (a float result
    that quantize leaves to its readers) the type of its first `quantize` reader."""
    if is_quant(node.output.type):
        return node.output.type if per_tensor(node.output.type, 32) else None
    readers = [u.output.type for u in node.output.users if u.op == "quantize"]
    return readers[0] if readers and per_tensor(readers[0], 32) else None


def _with_result(b, node, op: str, inputs: list):
    """`op` writing _result_type(node), dequantized when the node's result was float (the
    `quantize` readers of that type then fold away: fold-requantize-of-kernel)."""
    out = _result_type(node)
    z = b.op(op, inputs, output_types=[out])
    return z if is_quant(node.output.type) else _dequantized(b, node, z)


def _dequantized(b, node, z):
    """A dequantize of kernel result z standing for node's float result (which names it);
    z is named `<result>_int`, so reports and numerics checks can find it."""
    b.graph.rename(z, f"{node.output.name}_int")
    return b.op("dequantize", [z], output_types=[plain(z.type)])


def _softmax_lowerable(m) -> bool:
    node = m.root
    masked_ok = node.op == "softmax" or (node.attrs.get("zero_empty_rows") and node.attrs.get("fill") == -math.inf)
    return (marked(node) and _last_axis(node) and masked_ok and per_tensor(node.inputs[0].type, 16)
            and _result_type(node) is not None)


def _gelu_lowerable(m) -> bool:
    node = m.root
    return (marked(node) and node.attrs.get("approximate", "none") == "none" and per_tensor(node.inputs[0].type, 16)
            and _result_type(node) is not None)


def _kernel_result_requantized(m) -> bool:
    """quantize(dequantize(k)) of an I-BERT kernel k, to k's own parameters."""
    inner = m.root.inputs[0].producer
    return inner.inputs[0].producer is not None and inner.inputs[0].producer.op.startswith("ibert_") \
        and same_params(inner.inputs[0].type, m.root.output.type)


def _calibrated_peak(graph, v) -> float:
    """max |q.range| of a value, from its producer or its graph input attributes (NaN without one)."""
    attrs = v.producer.attrs if v.producer is not None else graph.input_attrs.get(v.name, {})
    r = attrs.get("q.range")
    if r is None:
        return math.nan
    return float(np.abs(np.asarray(r.array if hasattr(r, "array") else r, np.float64)).max())


def _wide_type(graph, v) -> QuantType:
    peak = _calibrated_peak(graph, v)
    scale = np.float32(peak / 2**WIDE_RANGE_BITS)
    return QuantType(WIDE_STORAGE, plain(v.type).dtype, plain(v.type).shape, scale, 0)


def _layer_norm_lowerable(m) -> bool:
    node, graph = m.root, m.root.graph
    x, y = node.inputs[0], node.output
    params_const = all(v is None or graph.const_value(v) is not None for v in node.inputs[1:])
    ends_known = isinstance(plain(x.type).shape[-1], int) if plain(x.type).rank else False
    ranged = all(per_tensor(v.type, 32) or (not is_quant(v.type) and plain(v.type).dtype == "f32"
                                            and _calibrated_peak(graph, v) > 0) for v in (x, y))
    return marked(node) and _last_axis(node) and params_const and ends_known and ranged


def _layer_norm(b, m):
    node, graph = m.root, m.root.graph
    x, y = node.inputs[0], node.output
    if not is_quant(x.type):
        wide = b.op("quantize", [x], output_types=[_wide_type(graph, x)])
        graph.rename(wide, f"{x.name}_i32")
        x = wide
    out_type = y.type if is_quant(y.type) else _wide_type(graph, y)
    eps = get_op("layer_norm").with_defaults(node.attrs)["eps"]
    z = b.op("ibert_layer_norm", [x, *node.inputs[1:]], {"eps": eps}, output_types=[out_type])
    return z if is_quant(y.type) else _dequantized(b, node, z)


def ibert_rules() -> list:
    return [
        Rule("ibert_softmax", Op(("softmax", "masked_softmax")),
             lambda b, m: _with_result(b, m.root, "ibert_softmax", list(m.root.inputs[:2])),
             condition=_softmax_lowerable),
        Rule("ibert_gelu", Op("gelu"), lambda b, m: _with_result(b, m.root, "ibert_gelu", [m.root.inputs[0]]),
             condition=_gelu_lowerable),
        Rule("fold-requantize-of-kernel", Op("quantize", Op("dequantize", Var("k"))), lambda b, m: m["k"],
             condition=_kernel_result_requantized),
        Rule("ibert_layer_norm", Op("layer_norm"), _layer_norm, condition=_layer_norm_lowerable),
    ]
