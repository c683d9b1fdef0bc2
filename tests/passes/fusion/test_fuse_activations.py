import numpy as np
import pytest

from qcompiler.ir import Graph
from qcompiler.ir.types import f32

ACTIVATIONS = {
    "relu": ({}, {"activation": "relu"}),
    "relu6": ({}, {"activation": "relu6"}),
    "hardswish": ({}, {"activation": "hardswish"}),
    "sigmoid": ({}, {"activation": "sigmoid"}),
    "clip": ({"min": -0.5, "max": 1.5}, {"activation": "clip", "activation_min": -0.5, "activation_max": 1.5}),
    "leaky_relu": ({"alpha": 0.2}, {"activation": "leaky_relu", "activation_alpha": 0.2}),
}
PRODUCERS = {
    "conv2d": ((1, 3, 6, 6), (4, 3, 3, 3), {"pad": [1, 1, 1, 1]}),
    "conv1d": ((1, 3, 8), (4, 3, 3), {}),
    "conv_transpose2d": ((1, 3, 4, 4), (3, 4, 2, 2), {"stride": [2, 2]}),
    "linear": ((5, 3), (4, 3), {}),
}


def producer_then(act: str, producer: str, act_attrs: dict, extra_reader=False) -> Graph:
    x_shape, w_shape, attrs = PRODUCERS[producer]
    rng = np.random.default_rng(3)
    g = Graph()
    x = g.add_input("x", f32(*x_shape))
    w = g.constant(rng.standard_normal(w_shape).astype(np.float32))
    b = g.constant(rng.standard_normal(4).astype(np.float32))
    y = g.add(producer, [x, w, b], attrs, name="conv").output
    out = g.add(act, [y], act_attrs, name="act").output
    g.set_outputs([out, y] if extra_reader else [out])
    return g


@pytest.mark.parametrize("producer", sorted(PRODUCERS))
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_activation_moves_into_the_producer(run_and_compare, act, producer):
    act_attrs, fused = ACTIVATIONS[act]
    g = producer_then(act, producer, act_attrs)
    stats = run_and_compare(g, "fuse-activations")
    assert stats["fuse-activations"] == {f"fuse-{act.replace('_', '-')}": 1}
    node = g.nodes[-1]
    assert node.op == producer and node.output.name == "act"
    assert {k: node.attrs[k] for k in fused} == fused


def test_no_fusion_when_the_raw_result_is_read_or_already_fused(run_and_compare):
    g = producer_then("relu", "conv2d", {}, extra_reader=True)
    assert run_and_compare(g, "fuse-activations") == {"fuse-activations": {}}
    g = producer_then("relu", "conv2d", {})
    run_and_compare(g, "fuse-activations")
    act = g.add("sigmoid", [g.outputs[0]])
    g.set_outputs([act.output])
    assert run_and_compare(g, "fuse-activations") == {"fuse-activations": {}}
    assert g.nodes[-1].op == "sigmoid"


def test_a_calibrated_graph_keeps_the_activation_range_on_the_fused_result(run_and_compare):
    g = producer_then("sigmoid", "conv2d", {})
    conv, act = g.find("conv").producer, g.find("act").producer
    conv.attrs.update({"q.range": [-7.0, 9.0], "q.method": "minmax"})
    act.attrs.update({"q.range": [0.001, 0.999], "q.method": "minmax"})
    run_and_compare(g, "fuse-activations")
    assert g.nodes[-1].attrs["q.range"] == [0.001, 0.999]


def test_fusing_an_uncalibrated_activation_drops_the_producer_range(run_and_compare):
    g = producer_then("sigmoid", "conv2d", {})
    g.find("conv").producer.attrs["q.range"] = [-7.0, 9.0]
    run_and_compare(g, "fuse-activations")
    assert "q.range" not in g.nodes[-1].attrs
