"""ibert_softmax, ibert_gelu and ibert_layer_norm on the Numba backend: the plans of the
references (qcompiler/ir/ops/quant_ibert.py), run by the row kernels of kernels/ibert.py."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.ops.quant_ibert import gelu_plan, layer_norm_plan, softmax_plan
from qcompiler.numerics import ibert_layer_norm as ln
from qcompiler.numerics.ibert_softmax import MAX_HALVINGS, MAX_ROW, PROBABILITY_BITS

from ..errors import NumbaBackendError
from ..kernels.ibert import (gelu_elements, gelu_elements_parallel, layer_norm_rows, layer_norm_rows_parallel,
                             softmax_rows, softmax_rows_parallel)
from .common import Step, attrs_of, quant_input
from .serial_or_parallel import ROW_ELEMENT_MACS, run_rows


def _rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, np.int64).reshape(-1, x.shape[-1]))


def _centred(x: np.ndarray, node: Node) -> np.ndarray:
    return np.asarray(x, np.int64) - int(node.inputs[0].type.zero_point.array.reshape(-1)[0])


def _rescale_args(r) -> tuple:
    return r.pre, int(r.multiplier), int(r.shift)


def prepare_ibert_softmax(node: Node) -> Step:
    plan = softmax_plan(quant_input(node, 0, "x"), node.output.type)
    e = plan.exp
    exp_params = (e.upshift, e.floor_in, e.q_ln2, e.q_b, e.q_c, e.drop, MAX_HALVINGS)
    masked = len(node.inputs) > 1 and node.inputs[1] is not None

    def run(args):
        x = args[0]
        if x.shape[-1] > MAX_ROW:
            raise NumbaBackendError(f"node {node.label()}: rows of {x.shape[-1]} exceed {MAX_ROW}")
        keep = np.broadcast_to(np.asarray(args[1], bool), x.shape) if masked else np.ones(x.shape, bool)
        rows = _rows(_centred(x, node))
        out = np.empty(rows.shape, np.int32)
        run_rows(softmax_rows, softmax_rows_parallel, len(rows), rows.size * ROW_ELEMENT_MACS, rows,
                 np.ascontiguousarray(keep.reshape(rows.shape)), exp_params, PROBABILITY_BITS,
                 *_rescale_args(plan.rescale), plan.zero_point, plan.lo, plan.hi, out)
        return [out.reshape(x.shape)]

    return run


def prepare_ibert_gelu(node: Node) -> Step:
    plan = gelu_plan(quant_input(node, 0, "x"), node.output.type)

    def run(args):
        x = args[0]
        flat = np.ascontiguousarray(_centred(x, node).reshape(-1))
        out = np.empty(flat.shape, np.int32)
        run_rows(gelu_elements, gelu_elements_parallel, flat.size, flat.size * ROW_ELEMENT_MACS, flat, plan.upshift,
                 plan.cap, plan.q_b, plan.q_c, plan.drop, *_rescale_args(plan.rescale), plan.zero_point, plan.lo,
                 plan.hi, out)
        return [out.reshape(x.shape)]

    return run


def prepare_ibert_layer_norm(node: Node) -> Step:
    params = [Graph.const_value(v) if v is not None else None for v in node.inputs[1:3]]
    params += [None] * (2 - len(params))
    if any(v is not None and p is None for v, p in zip(node.inputs[1:3], params)):
        raise NumbaBackendError(f"node {node.label()}: weight and bias must be constants")
    plan = layer_norm_plan(quant_input(node, 0, "x"), node.output.type, *params, attrs_of(node)["eps"])
    r = plan.rescale
    channels = plan.channels
    multipliers = np.ascontiguousarray(np.broadcast_to(r.multiplier, (channels,)), np.int64)
    shifts = np.ascontiguousarray(np.broadcast_to(r.shift, (channels,)), np.int64)
    bias = np.ascontiguousarray(plan.bias, np.int64)

    def run(args):
        x = args[0]
        rows = _rows(x)
        out = np.empty(rows.shape, np.int32)
        run_rows(layer_norm_rows, layer_norm_rows_parallel, len(rows), rows.size * ROW_ELEMENT_MACS, rows,
                 plan.in_zero_point, plan.log_channels, ln.DIVISOR_BITS, ln.NORMAL_BITS, ln.DIGIT_BITS, r.pre,
                 multipliers, shifts, bias, plan.eps_squares, plan.eps_shift, plan.zero_point, plan.lo, plan.hi, out)
        return [out.reshape(x.shape)]

    return run
