"""quantize, dequantize, requantize and qlut prepared for the Numba kernels: storage
read in any integer container, results written in their narrow one (common.storage_dtype)."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.printer import format_type
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import broadcast_params
from qcompiler.runtime.reference import ExecutionError

from ..errors import NumbaBackendError
from ..kernels.elementwise import qlut_kernel
from ..kernels.requant import dequantize_kernel, quantize_kernel, requantize_kernel
from .binary_results import binary_result
from .common import (Step, attrs_of, check_overflow, quant_input, quant_result, requant_of, storage_dtype,
                     zero_point)


def _flat_params(t: QuantType, shape: tuple) -> tuple:
    """(scale f32 [p], zero point i32 [p], inner) such that element i of a C-order array
    of `shape` uses parameter (i // inner) % p."""
    scale, zp = t.scale.array.astype(np.float32).reshape(-1), t.zero_point.array.astype(np.int32).reshape(-1)
    if t.axis is None:
        return scale[:1], zp[:1], 1
    if t.group is None:
        axis = t.axis % len(shape)
        return scale, zp, int(np.prod(shape[axis + 1:], dtype=np.int64))
    full_scale, full_zp = broadcast_params(t, shape)  # per group: one parameter per element
    return (np.ascontiguousarray(np.broadcast_to(full_scale, shape)).reshape(-1),
            np.ascontiguousarray(np.broadcast_to(full_zp, shape)).reshape(-1), 1)


def prepare_quantize(node: Node) -> Step:
    out_t = node.outputs[0].type
    if not isinstance(out_t, QuantType):
        raise NumbaBackendError(f"node {node.label()}: the result of quantize must have a quantized type, "
                                f"got {format_type(out_t)}")
    container = storage_dtype(out_t)

    def run(args):
        x = np.ascontiguousarray(args[0], np.float32)
        scale, zp, inner = _flat_params(out_t, x.shape)
        out = np.empty(x.shape, container)
        quantize_kernel(x.reshape(-1), scale, zp, inner, out_t.qmin, out_t.qmax, out_t.storage == "b1",
                        out.reshape(-1))
        return [out]

    return run


def prepare_dequantize(node: Node) -> Step:
    in_t = quant_input(node, 0, "x", per_tensor=False)

    def run(args):
        q = np.ascontiguousarray(args[0])  # the kernel widens each element
        scale, zp, inner = _flat_params(in_t, q.shape)
        out = np.empty(q.shape, np.float32)
        dequantize_kernel(q.reshape(-1), scale, zp, inner, out.reshape(-1))
        return [out]

    return run


def prepare_requantize(node: Node) -> Step:
    in_t = quant_input(node, 0, "x")
    rq, finish = binary_result(node, requant_of(node, 1), 1)

    def run(args):
        x = np.ascontiguousarray(args[0])  # the kernel widens each element
        out = np.empty(x.shape, rq.dtype)
        overflow = np.zeros(1, np.uint8)
        requantize_kernel(x.reshape(-1), zero_point(in_t), rq.multiplier[0], rq.shift[0], rq.zero_point, rq.lo, rq.hi,
                          rq.mode, out.reshape(-1), overflow)
        check_overflow(node, overflow)
        return [finish(out)]

    return run


def prepare_qlut(node: Node) -> Step:
    in_t = quant_input(node, 0, "x")
    quant_result(node)
    table = np.ascontiguousarray(attrs_of(node)["table"].array, np.int32)
    if table.shape != (in_t.qmax - in_t.qmin + 1,):
        raise NumbaBackendError(f"node {node.label()}: 'table' has {table.size} entries; {in_t.storage} input "
                                f"needs {in_t.qmax - in_t.qmin + 1}")
    container = storage_dtype(quant_result(node), int(table.min(initial=0)), int(table.max(initial=0)))

    def run(args):
        x = np.ascontiguousarray(args[0])  # the kernel widens each element
        out = np.empty(x.shape, container)
        bad = np.zeros(1, np.uint8)
        qlut_kernel(x.reshape(-1), table, in_t.qmin, out.reshape(-1), bad)
        if bad[0]:
            raise ExecutionError(f"node {node.label()} failed: input storage outside [{in_t.qmin}, {in_t.qmax}]")
        return [out]

    return run
