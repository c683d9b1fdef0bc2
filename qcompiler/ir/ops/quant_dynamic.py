"""dynamic_qlinear: a linear layer whose input is quantized at run time, onnxruntime's
quantize_dynamic arithmetic (DynamicQuantizeLinear + MatMulInteger): the u8 scale and
zero point come from the min and max of each call's input (widened to hold 0), the
int8 weight has one scale per output channel and zero point 0, the int32 accumulator
is scaled back to float and the float bias added. No calibration fixes the range, so
an input whose range varies from call to call (padding, outlier tokens) keeps its
resolution; the cost is a pass over the input per call. `granularity=token` gives every
row (token: all dims but the last) its own scale and zero point, so one outlier token
no longer coarsens the others; the accumulator is then scaled by s_row · s_w."""
from __future__ import annotations

import numpy as np

from ..errors import VerifyError
from ..registry import Attr, op
from ..types import QuantType, TensorType, numpy_dtype
from .infer import plain
from .quant_common import fmt_type

U8_LEVELS = 255


def dynamic_u8_params(x: np.ndarray) -> tuple:
    """(scale, zero point) as DynamicQuantizeLinear computes them, in float32."""
    lo = np.float32(min(0.0, float(x.min()) if x.size else 0.0))
    hi = np.float32(max(0.0, float(x.max()) if x.size else 0.0))
    scale = np.float32((hi - lo) / np.float32(U8_LEVELS))
    if scale == 0:  # an all-zero input: any scale stores it exactly
        return np.float32(1.0), 0
    return scale, int(np.clip(np.round(np.float32(0.0) - lo / scale), 0, U8_LEVELS))


def dynamic_u8(x: np.ndarray) -> tuple:
    """(u8 storage as int32, scale, zero point) of `x`."""
    scale, zp = dynamic_u8_params(x)
    q = np.clip(np.round(x.astype(np.float32) / scale) + zp, 0, U8_LEVELS).astype(np.int32)
    return q, scale, zp


def dynamic_u8_row_params(rows: np.ndarray) -> tuple:
    """(scales [R], zero points [R] as int32) of each row of `rows` [R, K], the float32
    arithmetic of dynamic_u8_params applied row by row."""
    lo = np.minimum(rows.min(axis=1), 0).astype(np.float32) if rows.size else np.zeros(rows.shape[0], np.float32)
    hi = np.maximum(rows.max(axis=1), 0).astype(np.float32) if rows.size else np.zeros(rows.shape[0], np.float32)
    scale = (hi - lo) / np.float32(U8_LEVELS)
    empty = scale == 0  # an all-zero row: any scale stores it exactly
    scale = np.where(empty, np.float32(1.0), scale).astype(np.float32)
    zp = np.where(empty, 0, np.clip(np.round(np.float32(0.0) - lo / scale), 0, U8_LEVELS)).astype(np.int32)
    return scale, zp


def per_channel_i8(t) -> bool:
    return (isinstance(t, QuantType) and t.storage == "i8" and t.rank == 2 and t.axis == 0 and t.group is None
            and not np.any(t.zero_point.array))


def _dynamic_qlinear_type(types, attrs, consts):
    x, w = plain(types[0]), types[1]
    if isinstance(types[0], QuantType) or x.dtype != "f32":
        raise VerifyError(f"dynamic_qlinear: input must be f32 (it is quantized at run time), got {fmt_type(types[0])}")
    if not per_channel_i8(w):
        raise VerifyError(f"dynamic_qlinear: weight must be i8 [out, in] with one scale per output channel (axis 0) "
                          f"and zero points 0, got {fmt_type(w)}")
    if x.rank < 1 or (isinstance(x.shape[-1], int) and x.shape[-1] != w.shape[1]):  # a symbolic size may match
        raise VerifyError(f"dynamic_qlinear: input {list(x.shape)} does not end in the weight's {w.shape[1]} inputs")
    if len(types) > 2 and types[2] is not None and plain(types[2]).shape != (w.shape[0],):
        raise VerifyError(f"dynamic_qlinear: bias {list(plain(types[2]).shape)} does not match {w.shape[0]} outputs")
    return [TensorType("f32", x.shape[:-1] + (w.shape[0],))]


@op("dynamic_qlinear", inputs=["x", "w", "b?"], infer=_dynamic_qlinear_type, integer=True,
    attrs={"granularity": Attr("str", "tensor", choices=("tensor", "token"))})
def dynamic_qlinear(x, w, b=None, granularity="tensor", *, in_types, out_types):
    """acc = (q(x) - zp) @ wᵀ in int32 (exact in int64 here), y = acc · (s_x · s_w) + b in float32."""
    w_scale = in_types[1].scale.array.astype(np.float32)
    if granularity == "token":
        rows = x.reshape(-1, x.shape[-1]).astype(np.float32)
        scale, zp = dynamic_u8_row_params(rows)
        q = np.clip(np.round(rows / scale[:, None]) + zp[:, None], 0, U8_LEVELS).astype(np.int64) - zp[:, None]
        acc = np.matmul(q, w.astype(np.int64).T)
        y = (acc.astype(np.float32) * (scale[:, None] * w_scale[None, :])).reshape(x.shape[:-1] + (w.shape[0],))
    else:
        q, scale, zp = dynamic_u8(x)
        acc = np.matmul(q.astype(np.int64) - zp, w.astype(np.int64).T)
        y = acc.astype(np.float32) * (scale * w_scale)
    if b is not None:
        y = y + b.astype(np.float32)
    return y.astype(numpy_dtype(out_types[0].dtype), copy=False)
