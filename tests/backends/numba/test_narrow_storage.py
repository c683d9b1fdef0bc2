"""Activations stay in their narrow storage containers (uint8 for u8, int8 for i8) between
the executor's integer nodes, through conv -> conv, conv -> add -> relu -> conv, concat
and pools, and every stored integer equals the reference interpreter's: inputs at both
storage ends, extreme weights, requantizations that saturate at both clamp ends."""
import numpy as np
import pytest

from lowered_graphs import assert_same_storage
from numba_cases import qtype, reference_storage, requant_attrs
from qcompiler.backends.numba import NumbaExecutor
from qcompiler.ir import Graph
from qcompiler.ir.registry import infer_types
from qcompiler.ir.types import QuantType

# storage: (its container, zero points of x, the convs, the sum)
STORAGES = {"u8": (np.uint8, (0, 255, 128)), "i8": (np.int8, (-128, 127, 0))}


def _conv(g, rng, x, cout, kernel, attrs, out_zp, name, fused_relu=False):
    """A qconv2d whose accumulators, mapped to several output ranges, saturate on both sides
    (at the zero point with a fused relu)."""
    x_t = x.type
    w = rng.integers(-128, 128, (cout, x_t.shape[1], kernel, kernel)).astype(np.int8)
    w[0], w[-1] = 127, -128  # the largest products of both signs
    k = w[0].size
    span = k * 128 * 255 / 8  # a typical |accumulator| (random signs) is well under this
    attrs = {**attrs, **requant_attrs(rng, cout, "half_even", (300 / span, 400 / span))}
    attrs["clamp"] = [out_zp if fused_relu else x_t.qmin, x_t.qmax]
    w_t = qtype("i8", w.shape, scale=0.01, axis=0)
    bias = rng.integers(-2000, 2000, cout).astype(np.int32)
    operands = [x, g.constant(w, name=f"{name}_w", type=w_t),
                g.constant(bias, name=f"{name}_b", type=qtype("i32", (cout,), scale=1e-3, axis=0))]
    shape = infer_types("qconv2d", [v.type for v in operands], attrs)[0].shape
    return g.add("qconv2d", operands, attrs, name=name,
                 output_types=[qtype(x_t.storage, shape, zp=out_zp, scale=0.1)]).output


def _requantizing(g, rng, op, operands, out_zp, name, multipliers=("multiplier",), real=(0.3, 3.0), **attrs):
    """A requantizing op with random multipliers about `real`, its result in the first operand's storage."""
    for multiplier in multipliers:  # one shift is kept: the others' real multipliers scale by a power of 2
        attrs.update(requant_attrs(rng, 1, "half_away", real, name=multiplier))
    shape = infer_types(op, [v.type for v in operands], attrs)[0].shape
    t = operands[0].type
    return g.add(op, operands, attrs, name=name, output_types=[qtype(t.storage, shape, zp=out_zp, scale=0.1)]).output


def _same_type(g, op, operands, attrs, name):
    """A storage pass-through: the result has the operands' one type (shape inferred)."""
    shape = infer_types(op, [v.type for v in operands], attrs)[0].shape
    return g.add(op, operands, attrs, name=name, output_types=[operands[0].type.with_shape(shape)]).output


def chains(storage: str) -> Graph:
    rng = np.random.default_rng(len(storage))
    _, (x_zp, conv_zp, sum_zp) = STORAGES[storage]
    g = Graph(f"chains_{storage}")
    x = g.add_input("x", qtype(storage, ("N", 8, 9, 9), zp=x_zp, scale=0.05))
    a = _conv(g, rng, x, 8, 3, {"pad": [1, 1, 1, 1]}, conv_zp, "a")
    a2 = _conv(g, rng, x, 8, 3, {"pad": [1, 1, 1, 1]}, conv_zp, "a2")
    conv_conv = _conv(g, rng, a, 12, 3, {"pad": [1, 1, 1, 1], "stride": [2, 2]}, x_zp, "conv_conv")
    added = _requantizing(g, rng, "qadd", [a, x], sum_zp, "added", ("multiplier_a", "multiplier_b"),
                          clamp=[x.type.qmin, x.type.qmax])
    relu = _same_type(g, "relu", [added], {}, "relu")
    after_relu = _conv(g, rng, relu, 8, 1, {}, sum_zp, "after_relu", fused_relu=True)
    cat = _same_type(g, "concat", [a, a2], {"axis": 1}, "cat")
    max_pooled = _same_type(g, "max_pool2d", [cat], {"kernel": [2, 2], "stride": [2, 2]}, "max_pooled")
    avg_pooled = _requantizing(g, rng, "qavg_pool2d", [cat], x_zp, "avg_pooled", kernel=[3, 3], stride=[2, 2])
    pooled = _requantizing(g, rng, "qglobal_avg_pool", [after_relu], conv_zp, "pooled", real=(0.02, 0.05))
    g.set_outputs([conv_conv, max_pooled, avg_pooled, pooled])
    return g


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_chains_keep_narrow_storage_and_equal_the_reference(storage):
    graph = chains(storage)
    executor = NumbaExecutor(graph)
    assert executor.fallback_nodes == []
    x_t = graph.inputs[0].type
    scale, zp = float(x_t.scale.array), int(x_t.zero_point.array)
    # both storage ends (and beyond: clamped by quantize), the zero point, random values between
    ends = np.array([(x_t.qmin - zp) * scale - 1, (x_t.qmax - zp) * scale + 1, 0.0], np.float32)
    x = np.random.default_rng(3).uniform((x_t.qmin - zp) * scale, (x_t.qmax - zp) * scale, (3, 8, 9, 9))
    x = x.astype(np.float32)
    x.reshape(-1)[:ends.size * 40] = np.repeat(ends, 40)
    got, want = executor.run_storage([x]), reference_storage(graph, [x])
    assert_same_storage(graph, got, want)
    container = STORAGES[storage][0]
    computed = [v for n in graph.nodes if n.op != "const" for v in n.outputs] + list(graph.inputs)
    assert all(isinstance(v.type, QuantType) for v in computed)
    assert {v.name: got[v.name].dtype for v in computed} == {v.name: np.dtype(container) for v in computed}
    for node in graph.nodes:  # every requantization saturates at both clamp ends
        if node.op in ("qconv2d", "qadd"):
            values = got[node.output.name]
            assert (values.min(), values.max()) == tuple(node.attrs["clamp"]), node.label()
