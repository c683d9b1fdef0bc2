"""Integer convolutions and matrix products: qconv1d, qconv2d, qlinear, qmatmul.

acc = Σ (x - zp_x)(w - zp_w) + b is an exact integer computed by the float op's own
reference on zero-point-centred int64 arrays (so window geometry, groups and padding
are the float op's: zero padding of the centred input is padding with zp_x, i.e. real
0), checked to fit int32, then requantized per output channel and clamped. A weight
quantized per group has one partial sum and multiplier per block (quant_group.py).
A qmatmul over a symbolic K carries `max_terms`, the longest K its accumulator was
proven for; a longer K at run time raises (check_length).
"""
from __future__ import annotations

import numpy as np

from ..errors import VerifyError
from ..registry import Attr, infer_types, op, run_reference
from ..types import QuantType
from .conv import CONV_ATTRS
from .fused import FUSED_ACTIVATION_ATTRS
from .quant_common import (CLAMP_ATTR, REQUANT_ATTRS, bias_operand, centered, check_clamp, check_requant,
                           quant_operand, requantize_to, result_type)
from .quant_group import check_grouped, grouped_product

_WINDOW_ATTRS = {k: v for k, v in CONV_ATTRS.items() if k not in FUSED_ACTIVATION_ATTRS}
QCONV_ATTRS = {**_WINDOW_ATTRS, **REQUANT_ATTRS, **CLAMP_ATTR}
QPRODUCT_ATTRS = {**REQUANT_ATTRS, **CLAMP_ATTR}
MAX_TERMS_ATTR = {"max_terms": Attr("int", 0, doc="the longest reduction proven to fit int32 (0: K is static)")}
_INTEGER_ATTRS = {**QPRODUCT_ATTRS, **MAX_TERMS_ATTR}


def check_length(k: int, max_terms: int) -> None:
    """A symbolic reduction length against the bound the lowering proved for it."""
    if max_terms and k > max_terms:
        raise OverflowError(f"the reduction length {k} exceeds max_terms={max_terms}, the longest the lowering "
                            "proved the int32 accumulator holds; use narrower activations or shorter inputs")


def _weight_channels_on(w: QuantType, axis: int, where: str, role: str) -> None:
    if w.axis is not None and w.axis % w.rank != axis % w.rank:
        raise VerifyError(f"{where}: operand '{role}' may be quantized per channel only along axis {axis}, "
                          f"got axis {w.axis}")


def _product_infer(name: str, float_op: str, attr_names, weight_axis: int, reduction_axis: int):
    def infer(types, attrs, consts):
        # conv / linear also read binary activations (the bit-serial kernels' b1 × b1, XNOR-popcount)
        x = quant_operand(types[0], name, "x" if float_op != "matmul" else "a", binary=float_op != "matmul")
        w = quant_operand(types[1], name, "w" if float_op != "matmul" else "b", per_tensor=False, binary=True,
                          grouped=True)
        if w.rank < 2 and w.axis is not None:
            raise VerifyError(f"{name}: a 1-D operand must be quantized per tensor")
        if w.group is None:
            _weight_channels_on(w, weight_axis, name, "w" if float_op != "matmul" else "b")
        bias = types[2] if len(types) > 2 else None
        bias_operand(bias, name)
        check_clamp(attrs["clamp"], name)
        if attrs.get("max_terms", 0) < 0:
            raise VerifyError(f"{name}: 'max_terms' must be >= 0 (0: the reduction length is static)")
        float_attrs = {k: attrs[k] for k in attr_names}
        out = infer_types(float_op, [x, w] + ([bias] if bias is not None else []), float_attrs)[0]
        if w.group is not None:
            check_grouped(x, w, attrs, weight_axis, reduction_axis, name)
        else:
            check_requant(attrs, w.shape[weight_axis] if w.rank >= 2 else 1, name)
        return [result_type(x, out.shape)]

    return infer


def _product_reference(float_op: str, attr_names, weight_axis: int, channel_axis: int):
    def reference(x, w, b=None, *, in_types, out_types, multiplier, shift, rounding, clamp, max_terms=0, **attrs):
        check_length(np.shape(x)[-1], max_terms)
        operands = [centered(x, in_types[0]), centered(w, in_types[1])]
        if in_types[1].group is not None:
            return grouped_product(float_op, *operands, b, in_types[1], out_types[0],
                                   {k: attrs[k] for k in attr_names}, multiplier.array, shift.array, rounding, clamp,
                                   weight_axis, channel_axis)
        if b is not None:
            operands.append(np.asarray(b, np.int64))
        acc = _integer_product(float_op, operands, {k: attrs[k] for k in attr_names})
        return requantize_to(acc, out_types[0], multiplier.array, shift.array, rounding,
                             clamp, channel_axis % max(np.ndim(acc), 1))

    return reference


def _integer_product(float_op: str, operands: list, attrs: dict) -> np.ndarray:
    """The float op's reference on the integer operands, in float32 or float64 (BLAS) when
    every partial sum, in any order, is an integer below 2**24 or 2**53 (bounded by the sum
    of |terms|), so the result is exact; numpy's int64 products are 10-100x slower."""
    x, w, *bias = operands
    bound = _amax(x) * _amax(w) * _reduction_length(float_op, w) + (_amax(bias[0]) if bias else 0)
    if bound >= 2**53:
        return np.asarray(run_reference(float_op, operands, attrs)[0], np.int64)
    exact = np.float32 if bound < 2**24 else np.float64
    acc = run_reference(float_op, [a.astype(exact) for a in operands], attrs)[0]
    return np.asarray(acc).astype(np.int64)


def _reduction_length(float_op: str, w: np.ndarray) -> int:
    """How many products one result sums: a linear weight's input features, a matmul
    operand's rows, one conv filter's elements (in channels per group x kernel)."""
    if w.size == 0:
        return 0
    if float_op == "linear":
        return w.shape[-1]
    if float_op == "matmul":
        return w.shape[-2] if w.ndim >= 2 else w.shape[0]
    return w.size // w.shape[0]


def _amax(a: np.ndarray) -> int:
    # two reductions, without the |a| temporary (a is an activation-sized int64 array)
    return max(int(a.max()), -int(a.min())) if a.size else 0


def _register(name: str, float_op: str, inputs, attrs: dict, axes: tuple, channel_axis: int, doc: str):
    """`axes`: the weight's output-channel axis and its reduction axis (where groups run)."""
    float_attr_names = tuple(k for k in attrs if k not in _INTEGER_ATTRS)
    reference = _product_reference(float_op, float_attr_names, axes[0], channel_axis)
    reference.__doc__ = doc
    op(name, inputs=inputs, attrs=attrs, infer=_product_infer(name, float_op, float_attr_names, *axes),
       integer=True)(reference)


_register("qconv1d", "conv1d", ["x", "w", "b?"], QCONV_ATTRS, (0, 1), 1,
          "Integer conv1d: per-channel (or per-group) requantization along axis 1, clamp to 'clamp'.")
_register("qconv2d", "conv2d", ["x", "w", "b?"], QCONV_ATTRS, (0, 1), 1,
          "Integer conv2d: per-channel (or per-group) requantization along axis 1, clamp to 'clamp'.")
_register("qlinear", "linear", ["x", "w", "b?"], QPRODUCT_ATTRS, (0, 1), -1,
          "Integer linear (w: [out, in]): per-feature (or per-group) requantization along the last axis.")
_register("qmatmul", "matmul", ["a", "b"], _INTEGER_ATTRS, (-1, -2), -1,
          "Integer matmul: b per tensor, per column (its last axis) or per group along its rows, requantized "
          "along the last axis.")
