"""Helpers for the Numba backend tests: one-node integer graphs on random storage, and
integer-for-integer comparison of a prepared node with its op's numpy reference, and
counters of the kernel paths a test expects taken."""
import numpy as np

from qcompiler.backends.numba.ops import INTEGER_STEPS, conv_vnni, products
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import STORAGE_RANGES, QuantType
from qcompiler.numerics.fixed_point import quantize_multiplier
from qcompiler.runtime.reference import bind_inputs, run_node

ROUNDINGS = ("half_away", "half_even", "half_up")


def qtype(storage, shape, zp=0, scale=0.05, axis=None):
    zp, scale = np.asarray(zp, np.int32), np.asarray(scale, np.float32)
    if axis is not None:
        n = shape[axis]
        zp, scale = np.broadcast_to(zp, (n,)).copy(), np.broadcast_to(scale, (n,)).copy()
    return QuantType(storage, "f32", tuple(shape), scale, zp, axis)


def storage(rng, t: QuantType, shape=None):
    if t.storage == "b1":  # binary storage is ±1, never 0
        return rng.choice(np.int32([-1, 1]), shape or t.shape)
    lo, hi = STORAGE_RANGES[t.storage]
    return rng.integers(lo, hi + 1, shape or t.shape).astype(np.int32)


def requant_attrs(rng, channels, rounding, real=(1e-4, 1e-2), name="multiplier"):
    """Dyadic multipliers for random real multipliers in `real` (log-uniform)."""
    m = np.exp(rng.uniform(np.log(real[0]), np.log(real[1]), channels))
    mult, shift = quantize_multiplier(m)
    return {name: Dense(mult), "shift": Dense(shift), "rounding": rounding}


def one_node(op, operands, attrs, out_type):
    """A graph with one `op` node. operands: list of (type, const array or None);
    a None const makes the operand a graph input."""
    g = Graph(op)
    values = []
    for i, (t, const) in enumerate(operands):
        values.append(g.add_input(f"in{i}", t) if const is None else g.constant(const, name=f"c{i}", type=t))
    node = g.add(op, values, attrs, name="y", output_types=[out_type])
    g.set_outputs(node.outputs)
    return node


def compare(node, args):
    """Run the Numba step and the reference on the same storage; assert equal integers.
    Returns the reference result."""
    want = run_node(node, args)
    got = INTEGER_STEPS[node.op](node)(args)
    for w, r in zip(want, got):
        assert r.shape == w.shape, f"{node.op}: shape {r.shape} != reference {w.shape}"
        diff = np.asarray(r, np.int64) - np.asarray(w, np.int64)
        assert not diff.any(), (f"{node.op}: {np.count_nonzero(diff)} of {diff.size} values differ "
                                f"(max |diff| {np.abs(diff).max()})")
    return want


def reference_storage(graph, inputs) -> dict:
    """Every value's runtime array (storage for quantized values) from the reference interpreter."""
    env = bind_inputs(graph, inputs)
    for node in graph.nodes:
        outs = run_node(node, [env[id(v)] if v is not None else None for v in node.inputs])
        for v, a in zip(node.outputs, outs):
            env[id(v)] = np.asarray(a)
    return {v.name: env[id(v)] for v in graph.values() if id(v) in env}


def counted_calls(monkeypatch, module, name: str) -> list:
    """`module.name` replaced by a wrapper that appends one entry per call to the list returned."""
    calls, function = [], getattr(module, name)

    def counted(*args):
        calls.append(1)
        return function(*args)

    monkeypatch.setattr(module, name, counted)
    return calls


def vnni_runs(monkeypatch, runner: str) -> list:
    """Counts the calls of products.`runner` (run_vnni_conv / run_vnni_linear); their layout
    buffers start poisoned, so a kept output that read a word the layout did not write would
    differ from the reference."""
    monkeypatch.setattr(conv_vnni, "layout_scratch", lambda shape: np.full(shape, 0xA5A5A5A5, np.uint32))
    return counted_calls(monkeypatch, products, runner)
