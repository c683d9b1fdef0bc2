"""Minifloat conv2d / linear on the Numba backend: codes -> decode table -> exact float64
dot products (kernels/minifloat.py) -> one multiply by the two scales -> bias and fused
activation in float32, as the reference does them.

A node qualifies when its weight is a minifloat constant and its data operand a minifloat
value, per tensor (conv2d: zero padding, one group); anything else stays on the
reference fallback. The reference interpreter multiplies the scaled float32 values with
BLAS, so its sums round differently: the two agree to float32 rounding, and this kernel
equals the exact sum (tests/backends/numba/test_minifloat_kernels.py).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.ops.conv import _conv_plan
from qcompiler.ir.ops.fused import apply_fused_activation
from qcompiler.ir.ops.spatial import windows
from qcompiler.ir.types import MinifloatType
from qcompiler.numerics.minifloat import broadcast_scale, decode_table, encode, format_of
from qcompiler.runtime.reference import to_runtime

from ..kernels.minifloat import minifloat_product
from .common import Step, attrs_of

FUSED = ("activation", "activation_min", "activation_max", "activation_alpha")


def prepare_minifloat(node: Node) -> Optional[Step]:
    if node.op not in ("conv2d", "linear") or len(node.inputs) < 2:
        return None
    x, w = node.inputs[0], node.inputs[1]
    if not (isinstance(x.type, MinifloatType) and x.type.axis is None and isinstance(w.type, MinifloatType)
            and w.producer is not None and w.producer.op == "const"):
        return None
    attrs = attrs_of(node)
    if node.op == "conv2d" and (attrs["groups"] != 1 or attrs["pad_mode"] != "zeros"):
        return None
    weight = w.producer.attrs["value"].array
    w_fmt, x_fmt = format_of(w.type), format_of(x.type)
    w_values = decode_table(w_fmt)[encode(weight / broadcast_scale(w.type, weight.shape), w_fmt)]
    w_values = np.ascontiguousarray(w_values.reshape(len(weight), -1))
    w_scale = np.asarray(w.type.scale_array, np.float64).reshape(-1)  # per output channel, or one
    scale = np.broadcast_to(w_scale * np.float64(x.type.scale), (len(weight),))
    table = np.ascontiguousarray(decode_table(x_fmt))
    fused = {k: attrs[k] for k in FUSED if k in attrs}
    out_type = node.outputs[0].type

    def finish(y: np.ndarray, bias) -> np.ndarray:
        if bias is not None:
            y = y + bias.astype(np.float32)
        y = apply_fused_activation(y, use_torch=False, **fused)
        return to_runtime(y, out_type) if isinstance(out_type, MinifloatType) else y

    if node.op == "linear":
        def step(args):
            a = args[0]
            codes = encode(a / np.float32(x.type.scale), x_fmt).reshape(-1, a.shape[-1])
            y = (minifloat_product(codes, table, w_values) * scale).astype(np.float32)
            return [finish(y, args[2] if len(args) > 2 else None).reshape(*a.shape[:-1], len(weight))]
        return step

    def conv_step(args):
        a = args[0]
        plan = _conv_plan("conv2d", a.shape, weight.shape, None, attrs["stride"], attrs["pad"], attrs["dilation"], 1,
                          "zeros")
        codes = encode(a / np.float32(x.type.scale), x_fmt)
        padded = np.pad(codes, [(0, 0), (0, 0)] + list(zip(plan.begin, plan.end)))  # code 0 is +0.0
        cols = windows(padded, plan)  # [N, C, oh, ow, kh, kw]
        cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(-1, w_values.shape[1])
        y = (minifloat_product(np.ascontiguousarray(cols), table, w_values) * scale).astype(np.float32)
        y = y.reshape(a.shape[0], *plan.out, len(weight)).transpose(0, 3, 1, 2)
        bias = args[2] if len(args) > 2 and args[2] is not None else None
        return [finish(y, None if bias is None else bias.reshape(-1, 1, 1))]
    return conv_step
