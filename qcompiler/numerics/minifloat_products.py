"""The defined arithmetic of a minifloat conv2d / linear, shared by the reference
interpreter and the Numba backend so the two agree bit for bit.

A node follows it when its data operand is a minifloat value with one scale and its
weight a minifloat constant (per tensor or per output channel; conv2d: one group, zero
padding). Its result is, per output element:

1. Σ_k x_k · w_k over the unscaled decoded format values, in float64, summed in index
   order k = 0, 1, ... (conv2d: k runs over channel, kernel row, kernel column);
2. × (s_x · s_w) in float64, rounded once to float32;
3. + bias (float32), then the fused activation in float32.

Each product is exact (two significands of at most 4 bits). The sum is exact, whatever
the order, while every partial sum fits float64's 53-bit significand: the products' bits
lie between 2^(lsb_x + lsb_w) and 2^(max_x + max_w) · K, so it is exact when
log2(max_x · max_w · K) - (lsb_x + lsb_w) ≤ 53, where lsb is the format's smallest
subnormal exponent. e4m3 × e4m3 (2^-9, 448): K ≤ 2^17; e2m3 × e4m3 (2^-3, 7.5): K ≤ 2^29;
e5m2 × e4m3 (2^-16, 57344): K ≤ 2^3 only. Beyond the bound the fixed order still makes
the rounding defined, so both executors still produce the same bits. Within it the numpy
statement uses a float64 BLAS product (the exact sum in any order), ten times faster.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..ir.core import Node
from ..ir.ops.conv import _conv_plan
from ..ir.ops.fused import apply_fused_activation
from ..ir.ops.spatial import windows
from ..ir.registry import get_op
from ..ir.types import MinifloatType
from .minifloat import broadcast_scale, decode_table, encode, format_of

FUSED = ("activation", "activation_min", "activation_max", "activation_alpha")

# (x_codes [M, K], table [2^bits] float64, w_values [N, K] float64) -> [M, N] float64
Product = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def follows_minifloat_products(node: Node) -> bool:
    if node.op not in ("conv2d", "linear") or len(node.inputs) < 2:
        return False
    x, w = node.inputs[0], node.inputs[1]
    if not (isinstance(x.type, MinifloatType) and x.type.axis is None and isinstance(w.type, MinifloatType)
            and w.producer is not None and w.producer.op == "const"):
        return False
    attrs = get_op(node.op).with_defaults(node.attrs)
    return node.op == "linear" or (attrs["groups"] == 1 and attrs["pad_mode"] == "zeros")


def sum_is_exact(x_table: np.ndarray, w_table: np.ndarray, k: int) -> bool:
    """Whether every partial sum of k products of the two formats' values is exact in
    float64: every format value is a multiple of its smallest subnormal, so the sums are
    integers times the two quanta, exact below 2^53 of them."""
    x_finite, w_finite = x_table[np.isfinite(x_table)], w_table[np.isfinite(w_table)]
    quantum = np.min(x_finite[x_finite > 0]) * np.min(w_finite[w_finite > 0])
    return np.max(np.abs(x_finite)) * np.max(np.abs(w_finite)) * k / quantum < 2.0 ** 53


def blas_product(x_codes: np.ndarray, table: np.ndarray, w_values: np.ndarray) -> np.ndarray:
    return table[x_codes] @ w_values.T


def ordered_product(x_codes: np.ndarray, table: np.ndarray, w_values: np.ndarray) -> np.ndarray:
    """The numpy statement of step 1: one float64 accumulator per output, k in order."""
    acc = np.zeros((x_codes.shape[0], w_values.shape[0]), np.float64)
    for k in range(x_codes.shape[1]):
        acc += table[x_codes[:, k]][:, None] * w_values[:, k][None, :]
    return acc


def prepare_minifloat_products(node: Node, product: Optional[Product] = None) -> Callable[[list], np.ndarray]:
    """A function of the node's runtime arguments (floats) giving its float32 result
    (before rounding to the result's type), with `product` doing step 1 (None: the
    numpy statement, BLAS within the exact bound, else `ordered_product`)."""
    x, w = node.inputs[0], node.inputs[1]
    attrs = get_op(node.op).with_defaults(node.attrs)
    weight = w.producer.attrs["value"].array
    w_fmt, x_fmt = format_of(w.type), format_of(x.type)
    w_values = decode_table(w_fmt)[encode(weight / broadcast_scale(w.type, weight.shape), w_fmt)]
    w_values = np.ascontiguousarray(w_values.reshape(len(weight), -1))
    w_scale = np.asarray(w.type.scale_array, np.float64).reshape(-1)  # per output channel, or one
    scale = np.broadcast_to(w_scale * np.float64(x.type.scale), (len(weight),))
    table = np.ascontiguousarray(decode_table(x_fmt))
    if product is None:
        exact = sum_is_exact(table, decode_table(w_fmt), w_values.shape[1])
        product = blas_product if exact else ordered_product
    fused = {k: attrs[k] for k in FUSED if k in attrs}

    def finish(y: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        if bias is not None:
            y = y + bias.astype(np.float32)
        return apply_fused_activation(y, use_torch=False, **fused)

    def bias_of(args):
        return args[2] if len(args) > 2 and args[2] is not None else None

    if node.op == "linear":
        def run_linear(args):
            a = args[0]
            codes = encode(a / np.float32(x.type.scale), x_fmt).reshape(-1, a.shape[-1])
            y = (product(np.ascontiguousarray(codes), table, w_values) * scale).astype(np.float32)
            return finish(y, bias_of(args)).reshape(*a.shape[:-1], len(weight))
        return run_linear

    def run_conv(args):
        a = args[0]
        plan = _conv_plan("conv2d", a.shape, weight.shape, None, attrs["stride"], attrs["pad"], attrs["dilation"], 1,
                          "zeros")
        codes = encode(a / np.float32(x.type.scale), x_fmt)
        padded = np.pad(codes, [(0, 0), (0, 0)] + list(zip(plan.begin, plan.end)))  # code 0 is +0.0
        cols = windows(padded, plan)  # [N, C, oh, ow, kh, kw]
        cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(-1, w_values.shape[1])
        y = (product(np.ascontiguousarray(cols), table, w_values) * scale).astype(np.float32)
        y = y.reshape(a.shape[0], *plan.out, len(weight)).transpose(0, 3, 1, 2)
        bias = bias_of(args)
        return finish(y, None if bias is None else bias.reshape(-1, 1, 1))
    return run_conv
