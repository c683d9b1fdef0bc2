"""Weights stored in zero-run code (`zero_run_weight`, written by `zero-run-encode`).

A `zero_run_weight` of constants decodes once, when the executor is built, and the
products reading it see a constant weight (`common.const_input`), so packing, bit
planes and int16 rows are made at load as for a dense constant. A convolution on such
a weight runs `kernels/conv_sparse.py` instead when at most `SPARSE_MAX_DENSITY` of its
taps are nonzero: the nonzero taps of each output channel, taken straight from the
code's entries (positions and values, fillers dropped), so zero taps cost no work
(`SparseConvPlan.skipped_taps`). Denser weights run the dense int8 kernels, which are
faster there. Measured on the 64→64 3×3 56×56 bench layer (bench/sparse_weights.py,
median CPU ms, AVX-512 VNNI host): the sparse kernel takes 3.2 / 2.3 / 1.9 / 1.3 / 0.95 ms
at 50 / 70 / 80 / 90 / 95% zeros, the u8×s8 VNNI kernel about 0.95 at any sparsity, the
int16 4×4 tile kernel (AVX-512 BW without VNNI) 3.3, the direct kernel 3-9.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from llvmlite import binding as llvm

from qcompiler.ir.core import Node
from qcompiler.numerics.zero_runs import unpack_code
from qcompiler.runtime.reference import run_node

from ..kernels.conv_sparse import qconv2d_sparse_kernel
from ..weights import pack_weight_rows, zero_points_per_row
from .common import Step, attrs_of, check_overflow, const_input, quant_input, quant_result, requant_of
from .products import bias_source, conv_input, wide_accumulator_source

TAP_BLOCK = 4  # taps per accumulation pass of kernels/conv.py
# nonzero taps / all taps up to which the sparse kernel runs: below where it catches up with
# the dense kernel this host runs (the VNNI one near 95% zeros on the bench layer, and on
# PP-OCR cls not even there; the int16 tiles near 50%)
_HOST = llvm.get_host_cpu_features()
SPARSE_MAX_DENSITY = 0.02 if _HOST.get("avx512vnni", False) else 0.35


def prepare_zero_run_weight(node: Node) -> Step:
    """Decoded once; one fed at run time (not by constants) decodes on every call."""
    stored = [const_input(node, i) for i in range(2)]
    if any(a is None for a in stored):
        return lambda args: run_node(node, args)
    value = run_node(node, stored)[0]
    return lambda args: [value]


@dataclass(frozen=True)
class SparseConvPlan:
    tap_k: np.ndarray    # int64: flat index (ic·kh + ky)·kw + kx of each kept tap, channel after channel
    tap_w: np.ndarray    # int32: its weight (zero point 0)
    starts: np.ndarray   # int64 [Cout + 1]: channel c's taps are [starts[c], starts[c + 1])
    nonzero: int         # taps with a nonzero weight
    dense_taps: int      # Cout · Cin/groups · kh · kw

    @property
    def skipped_taps(self) -> int:
        """Taps per output position the sparse kernel does not run (each a multiply-add)."""
        return self.dense_taps - self.nonzero


def sparse_conv_plan(node: Node) -> Optional[SparseConvPlan]:
    """The nonzero taps of a convolution whose weight (input 1) is a zero_run_weight of
    constants, or None for any other weight."""
    producer = node.inputs[1].producer if len(node.inputs) > 1 and node.inputs[1] is not None else None
    if producer is None or producer.op != "zero_run_weight":
        return None
    stored = [const_input(producer, i) for i in range(2)]
    if any(a is None for a in stored):
        return None
    a, t = producer.attrs, producer.outputs[0].type
    code = unpack_code(*stored, a["entries"], a["base"], tuple(a["shape"]), a.get("index_bits", 4), t.bits, t.signed)
    cout, k = t.shape[0], int(np.prod(t.shape[1:]))
    kept = code.values != 0  # fillers hold 0
    flat = code.positions()[kept]
    channel = flat // k
    counts = np.bincount(channel, minlength=cout)
    starts = np.concatenate([[0], np.cumsum(-(-counts // TAP_BLOCK) * TAP_BLOCK)]).astype(np.int64)
    before = np.concatenate([[0], np.cumsum(counts)])  # kept taps of the channels before each
    slot = starts[channel] + np.arange(flat.size) - before[channel]
    tap_k, tap_w = np.zeros(starts[-1], np.int64), np.zeros(starts[-1], np.int32)
    tap_k[slot], tap_w[slot] = flat % k, code.values[kept]
    return SparseConvPlan(tap_k, tap_w, starts, int(flat.size), cout * k)


def with_sparse_taps(prepare_dense):
    """prepare_qconv, but a convolution whose weight is stored in zero-run code, at most
    SPARSE_MAX_DENSITY of it nonzero, runs its nonzero taps only (any accumulator width:
    int64 with the overflow check when int32 is not proven, as the dense direct kernel)."""
    def prepare(node: Node) -> Step:
        plan = sparse_conv_plan(node)
        if plan is None or plan.nonzero > SPARSE_MAX_DENSITY * plan.dense_taps:
            return prepare_dense(node)
        attrs = attrs_of(node)
        x_t = quant_input(node, 0, "x")
        quant_result(node)
        w_t = quant_input(node, 1, "w", per_tensor=False)
        cout = w_t.shape[0]
        kernel = tuple(w_t.shape[2:]) if node.op == "qconv2d" else (1, w_t.shape[2])
        rq = requant_of(node, cout)
        bias_for = bias_source(node, 2, cout)
        where = f"node {node.label()}"
        weights = pack_weight_rows(const_input(node, 1).reshape(cout, -1), w_t,
                                   zero_points_per_row(w_t, cout, 0, where), where)
        wide_for = wide_accumulator_source(node, lambda w: weights, bias_for, x_t)

        def run(args):
            x = args[0]
            bias = bias_for(args[2] if len(args) > 2 else None)
            wide = wide_for(weights, bias)
            xc, out_hw, stride, dilation = conv_input(node, attrs, x_t, x, kernel)
            out = np.empty((x.shape[0], cout) + out_hw, rq.dtype)
            overflow = np.zeros(x.shape[0] * cout, np.uint8)
            qconv2d_sparse_kernel(xc, plan.tap_k, plan.tap_w, plan.starts, attrs["groups"], kernel[0], kernel[1],
                                  stride[0], stride[1], dilation[0], dilation[1], bias, rq.multiplier, rq.shift,
                                  rq.zero_point, rq.lo, rq.hi, rq.mode, np.zeros(1, np.int64 if wide else np.int32),
                                  out, overflow)
            check_overflow(node, overflow)
            return [out[:, :, 0, :] if node.op == "qconv1d" else out]

        return run

    return prepare
