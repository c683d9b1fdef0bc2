"""dynamic_qlinear on the Numba backend: the input's u8 parameters from its min and max
(the reference's float32 arithmetic, qcompiler/ir/ops/quant_dynamic.py), then one int32
dot product per output, scaled back to float32 like the reference. Per token
(granularity=token) each row gets its parameters inside the kernel, in the float32
operations of dynamic_u8_row_params."""
from __future__ import annotations

import numba
import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.ops.quant_dynamic import U8_LEVELS, dynamic_u8_params

from .common import Step


@numba.njit(cache=True)
def _quantize_u8(x, scale, zp, out):
    for i in range(x.shape[0]):
        for k in range(x.shape[1]):
            out[i, k] = min(max(np.int32(np.round(x[i, k] / scale)) + zp, 0), U8_LEVELS) - zp


@numba.njit(cache=True, parallel=True)
def dynamic_linear_kernel(centred, w, scales, bias, has_bias, out):
    for i in numba.prange(centred.shape[0]):
        for o in range(w.shape[0]):
            acc = np.int32(0)
            for k in range(w.shape[1]):
                acc += centred[i, k] * w[o, k]
            y = np.float32(acc) * scales[o]
            out[i, o] = y + bias[o] if has_bias else y


@numba.njit(cache=True, parallel=True)
def per_token_linear_kernel(rows, w, w_scales, bias, has_bias, out):
    for i in numba.prange(rows.shape[0]):
        lo, hi = np.float32(0.0), np.float32(0.0)
        for k in range(rows.shape[1]):
            lo, hi = min(lo, rows[i, k]), max(hi, rows[i, k])
        scale = (hi - lo) / np.float32(U8_LEVELS)
        zp = np.int32(0)
        if scale == 0:  # an all-zero row
            scale = np.float32(1.0)
        else:
            zp = np.int32(min(max(np.round(np.float32(0.0) - lo / scale), 0), U8_LEVELS))
        centred = np.empty(rows.shape[1], np.int32)
        for k in range(rows.shape[1]):
            centred[k] = min(max(np.int32(np.round(rows[i, k] / scale)) + zp, 0), U8_LEVELS) - zp
        for o in range(w.shape[0]):
            acc = np.int32(0)
            for k in range(w.shape[1]):
                acc += centred[k] * w[o, k]
            y = np.float32(acc) * (scale * w_scales[o])
            out[i, o] = y + bias[o] if has_bias else y


def prepare_dynamic_qlinear(node: Node) -> Step:
    w_scale = node.inputs[1].type.scale.array.astype(np.float32).reshape(-1)
    has_bias = len(node.inputs) > 2 and node.inputs[2] is not None
    per_token = node.attrs.get("granularity", "tensor") == "token"

    def run(args):
        x, w = np.asarray(args[0], np.float32), np.ascontiguousarray(args[1], np.int32)
        rows = np.ascontiguousarray(x.reshape(-1, x.shape[-1]))
        bias = np.asarray(args[2], np.float32) if has_bias else np.zeros(w.shape[0], np.float32)
        out = np.empty((rows.shape[0], w.shape[0]), np.float32)
        if per_token:
            per_token_linear_kernel(rows, w, w_scale, bias, has_bias, out)
            return [out.reshape(x.shape[:-1] + (w.shape[0],))]
        scale, zp = dynamic_u8_params(x)
        centred = np.empty(rows.shape, np.int32)
        _quantize_u8(rows, np.float32(scale), np.int32(zp), centred)
        dynamic_linear_kernel(centred, w, (np.float32(scale) * w_scale).astype(np.float32), bias, has_bias, out)
        return [out.reshape(x.shape[:-1] + (w.shape[0],))]

    return run
