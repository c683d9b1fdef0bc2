"""qadd and qmul prepared for the Numba kernels (numpy broadcasting of the operands):
operands in any integer container (the kernels widen each element to int64), results
in their narrow one."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node

from ..kernels.elementwise import qadd_kernel, qmul_kernel
from .common import Step, check_overflow, quant_input, quant_result, requant_of, zero_point


def _broadcast(a, b) -> tuple:
    a, b = np.asarray(a), np.asarray(b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    # an operand of the full shape is read in place; a broadcast one is copied out (writable:
    # one kernel signature)
    a, b = (x if x.shape == shape else np.broadcast_to(x, shape).copy() for x in (a, b))
    return a.reshape(-1), b.reshape(-1), shape


def prepare_qadd(node: Node) -> Step:
    za, zb = zero_point(quant_input(node, 0, "a")), zero_point(quant_input(node, 1, "b"))
    quant_result(node)
    rq = requant_of(node, 1, ("multiplier_a", "multiplier_b"))
    ma, mb = (int(m[0]) for m in rq.multipliers)

    def run(args):
        a, b, shape = _broadcast(args[0], args[1])
        out = np.empty(shape, rq.dtype)
        qadd_kernel(a, b, za, zb, ma, mb, int(rq.shift[0]), rq.zero_point, rq.lo, rq.hi, rq.mode, out.reshape(-1))
        return [out]

    return run


def prepare_qmul(node: Node) -> Step:
    za, zb = zero_point(quant_input(node, 0, "a")), zero_point(quant_input(node, 1, "b"))
    quant_result(node)
    rq = requant_of(node, 1)

    def run(args):
        a, b, shape = _broadcast(args[0], args[1])
        out = np.empty(shape, rq.dtype)
        overflow = np.zeros(1, np.uint8)
        qmul_kernel(a, b, za, zb, int(rq.multiplier[0]), int(rq.shift[0]), rq.zero_point, rq.lo, rq.hi, rq.mode,
                    out.reshape(-1), overflow)
        check_overflow(node, overflow)
        return [out]

    return run
