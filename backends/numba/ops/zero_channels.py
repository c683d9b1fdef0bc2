"""Convolutions whose zero-run stored weight has whole output channels at zero (channel
pruning) run the dense int8 kernels on the live channels only.

A channel whose weights are all zero (zero point 0, which `zero_run_weight` requires)
accumulates only its bias, so its output is one requantized constant whatever the input;
it is computed once here with the kernels' own `requantize_one`. The live channels form
a smaller convolution of the same geometry (weights, bias, per-channel parameters and
result channels taken at the live indices), prepared by the dense path like any other,
and the two are put back in channel order. The skipped work is the dead channels'
multiply-adds, all of them. Grouped convolutions, a bias computed at run time and weights
stored densely keep the plain dense path.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType

from ..kernels.rounding import requantize_one
from .common import Step, attrs_of, const_input, requant_of


def dead_channels(node: Node) -> Optional[np.ndarray]:
    """Indices of the all-zero output channels of a convolution whose weight is a
    zero_run_weight of constants (empty when none is), or None for any other weight."""
    producer = node.inputs[1].producer if len(node.inputs) > 1 and node.inputs[1] is not None else None
    if producer is None or producer.op != "zero_run_weight":
        return None
    w = const_input(node, 1)
    if w is None:
        return None
    return np.flatnonzero(~np.any(w.reshape(w.shape[0], -1) != 0, axis=1))


def _taken(t: QuantType, live: np.ndarray) -> QuantType:
    """`t` ([C, ...], per tensor or per channel along axis 0) at channels `live`."""
    scale, zp = t.scale.array, t.zero_point.array
    if t.axis is not None:
        scale, zp = scale.reshape(-1)[live], zp.reshape(-1)[live]
    return QuantType(t.storage, t.expressed, (live.size,) + tuple(t.shape[1:]), scale, zp, t.axis)


def _live_node(node: Node, live: np.ndarray) -> tuple:
    """A one-node graph computing `node`'s live channels, and its constant operands."""
    cout = node.inputs[1].type.shape[0]
    g = Graph("live_channels")
    x = g.add_input("x", node.inputs[0].type)
    consts = [const_input(node, 1)[live]]
    operands = [x, g.constant(consts[0], name="w", type=_taken(node.inputs[1].type, live))]
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        consts.append(const_input(node, 2).reshape(-1)[live])
        operands.append(g.constant(consts[1], name="b", type=_taken(node.inputs[2].type, live)))
    attrs = dict(node.attrs)
    for name in ("multiplier", "shift"):
        if name in attrs and attrs[name].array.size == cout:
            attrs[name] = Dense(attrs[name].array.reshape(-1)[live])
    out_t = node.outputs[0].type
    result = out_t.with_shape((out_t.shape[0], live.size) + tuple(out_t.shape[2:]))
    sub = g.add(node.op, operands, attrs, name="y", output_types=[result])
    g.set_outputs(sub.outputs)
    return sub, consts


def with_live_channels(prepare_dense):
    """prepare_qconv, but a convolution whose zero-run stored weight has all-zero output
    channels computes only the others (module docstring)."""
    def prepare(node: Node) -> Step:
        dead = dead_channels(node)
        bias_at_run_time = len(node.inputs) > 2 and node.inputs[2] is not None and const_input(node, 2) is None
        cout = node.inputs[1].type.shape[0]
        if dead is None or dead.size in (0, cout) or attrs_of(node)["groups"] != 1 or bias_at_run_time:
            return prepare_dense(node)
        live = np.setdiff1d(np.arange(cout), dead)
        sub, consts = _live_node(node, live)
        live_step = prepare_dense(sub)
        rq = requant_of(node, cout)
        bias = const_input(node, 2).reshape(-1) if len(consts) > 1 else np.zeros(cout, np.int64)
        constant = np.array([requantize_one(np.int64(bias[c]), rq.multiplier[c], rq.shift[c], rq.zero_point, rq.lo,
                                            rq.hi, rq.mode) for c in dead], np.int32)

        def run(args):
            part = live_step([args[0], *consts])[0]
            out = np.empty((part.shape[0], cout) + part.shape[2:], part.dtype)  # the constants are in [lo, hi] too
            out[:, live] = part
            out[:, dead] = constant.reshape((1, -1) + (1,) * (part.ndim - 2))
            return [out]

        return run

    return prepare
