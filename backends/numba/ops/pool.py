"""qavg_pool2d and qglobal_avg_pool prepared for the Numba kernels; results in their
narrow container (common.storage_dtype)."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.ops.quant_pool import avg_pool_plan, check_runtime_count
from qcompiler.runtime.reference import ExecutionError

from ..kernels.pool import qavg_pool2d_kernel, qglobal_avg_pool_kernel, qglobal_mean_kernel
from .common import Step, attrs_of, check_overflow, quant_input, quant_result, requant_of, storage_int32, zero_point


def prepare_qavg_pool2d(node: Node) -> Step:
    attrs = attrs_of(node)
    x_t = quant_input(node, 0, "x")
    quant_result(node)
    rq = requant_of(node, 1)

    def run(args):
        x = storage_int32(args[0])
        plan = avg_pool_plan(x.shape, attrs["kernel"], attrs["stride"], attrs["pad"], attrs["ceil_mode"],
                             f"node {node.label()}")
        begin, end = plan.full_pads()
        # padding the centred input with 0 is padding with the zero point: real 0, counted
        xc = np.pad(x - np.int32(zero_point(x_t)), [(0, 0), (0, 0)] + list(zip(begin, end)))
        out = np.empty(x.shape[:2] + plan.out, rq.dtype)
        overflow = np.zeros(x.shape[0] * x.shape[1], np.uint8)
        qavg_pool2d_kernel(xc, plan.kernel[0], plan.kernel[1], plan.stride[0], plan.stride[1], int(rq.multiplier[0]),
                           int(rq.shift[0]), rq.zero_point, rq.lo, rq.hi, rq.mode, out, overflow)
        check_overflow(node, overflow)
        return [out]

    return run


def prepare_qglobal_avg_pool(node: Node) -> Step:
    x_t = quant_input(node, 0, "x")
    quant_result(node)
    rq = requant_of(node, 1)
    runtime_count = attrs_of(node)["runtime_count"]

    def run(args):
        x = np.ascontiguousarray(args[0])  # the kernels widen each element
        rows = x.shape[0] * x.shape[1]
        out = np.empty(rows, rq.dtype)
        params = (zero_point(x_t), int(rq.multiplier[0]), int(rq.shift[0]), rq.zero_point, rq.lo, rq.hi, rq.mode)
        if runtime_count:
            try:
                check_runtime_count(int(np.prod(x.shape[2:], dtype=np.int64)))
            except ValueError as e:
                raise ExecutionError(f"node {node.label()} failed: {e}") from e
            qglobal_mean_kernel(x.reshape(rows, -1), *params, out)
        else:
            overflow = np.zeros(rows, np.uint8)
            qglobal_avg_pool_kernel(x.reshape(rows, -1), *params, out, overflow)
            check_overflow(node, overflow)
        return [out.reshape(x.shape[:2] + (1,) * (x.ndim - 2))]

    return run
