"""qadd and qmul prepared for the Numba kernels (numpy broadcasting of the operands)."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node

from ..kernels.elementwise import qadd_kernel, qmul_kernel
from .common import Step, check_overflow, quant_input, quant_result, requant_of, storage_int32, zero_point


def _broadcast(a, b) -> tuple:
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    return storage_int32(a).reshape(-1), storage_int32(b).reshape(-1), a.shape


def prepare_qadd(node: Node) -> Step:
    za, zb = zero_point(quant_input(node, 0, "a")), zero_point(quant_input(node, 1, "b"))
    quant_result(node)
    rq = requant_of(node, 1, ("multiplier_a", "multiplier_b"))
    ma, mb = (int(m[0]) for m in rq.multipliers)

    def run(args):
        a, b, shape = _broadcast(args[0], args[1])
        out = np.empty(shape, np.int32)
        qadd_kernel(a, b, za, zb, ma, mb, int(rq.shift[0]), rq.zero_point, rq.lo, rq.hi, rq.mode, out.reshape(-1))
        return [out]

    return run


def prepare_qmul(node: Node) -> Step:
    za, zb = zero_point(quant_input(node, 0, "a")), zero_point(quant_input(node, 1, "b"))
    quant_result(node)
    rq = requant_of(node, 1)

    def run(args):
        a, b, shape = _broadcast(args[0], args[1])
        out = np.empty(shape, np.int32)
        overflow = np.zeros(1, np.uint8)
        qmul_kernel(a, b, za, zb, int(rq.multiplier[0]), int(rq.shift[0]), rq.zero_point, rq.lo, rq.hi, rq.mode,
                    out.reshape(-1), overflow)
        check_overflow(node, overflow)
        return [out]

    return run
