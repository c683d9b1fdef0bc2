"""`lower` on single layers: which form each configuration takes, and that its numerics
stay within a step of the fake-quant graph."""
import numpy as np
import pytest

from fake_quant import fake_quantize_graph
from qcompiler.ir import Graph, verify
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassContext, PassError, PassManager
from qcompiler.runtime.reference import run_graph

RNG = np.random.default_rng(5)


def normal(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def one_layer(op, x_shape, attrs=None, weight=None, bias=None, second=None):
    g = Graph(op)
    x = g.add_input("x", f32(*x_shape))
    operands = [x]
    if second is not None:
        operands.append(g.add_input("x2", f32(*second)))
    if weight is not None:
        operands.append(g.constant(weight, name="w"))
    if bias is not None:
        operands.append(g.constant(bias, name="b"))
    g.set_outputs([g.add(op, operands, attrs or {}, name="y").output])
    return g


def lower_and_compare(g, **quant_options):
    inputs = [normal(*v.type.shape) for v in g.inputs]
    fq, lowered = (fake_quantize_graph(g, inputs, **quant_options) for _ in range(2))
    pm = PassManager("lower")
    pm.run(lowered, PassContext())
    verify(lowered)
    test_inputs = [normal(*v.type.shape) for v in g.inputs]
    (a,), (b,) = run_graph(fq, test_inputs), run_graph(lowered, test_inputs)
    off = np.rint(np.abs(a - b) / float(fq.outputs[0].type.scale.array))
    return lowered, pm.history[-1].stats, off


CASES = {
    "conv1d": (lambda: one_layer("conv1d", (4, 3, 20), {"pad": [2, 2], "stride": [2]}, normal(5, 3, 5, scale=0.3),
                                 normal(5)), "qconv1d"),
    "conv2d-depthwise-reflect": (lambda: one_layer("conv2d", (2, 6, 9, 9), {"groups": 6, "pad": [1, 1, 1, 1],
                                                                             "pad_mode": "reflect"},
                                                   normal(6, 1, 3, 3, scale=0.5)), "qconv2d"),
    "conv2d-clip": (lambda: one_layer("conv2d", (2, 4, 8, 8), {"activation": "clip", "activation_min": -0.5,
                                                                "activation_max": 1.0}, normal(6, 4, 3, 3, scale=0.2),
                                      normal(6, scale=0.2)), "qconv2d"),
    "linear-sigmoid": (lambda: one_layer("linear", (32, 24), {"activation": "sigmoid"}, normal(12, 24, scale=0.4),
                                         normal(12)), "qlut"),
    "linear-leaky-relu": (lambda: one_layer("linear", (32, 24), {"activation": "leaky_relu", "activation_alpha": 0.1},
                                            normal(12, 24, scale=0.4)), "qlut"),
    "matmul-activations": (lambda: one_layer("matmul", (3, 8, 16), second=(3, 16, 5)), "qmatmul"),
    "global-avg-pool": (lambda: one_layer("global_avg_pool", (4, 8, 6, 6)), "qglobal_avg_pool"),
    "avg-pool-counted-padding": (lambda: one_layer("avg_pool2d", (2, 3, 9, 9), {"kernel": [3, 3], "stride": [2, 2],
                                                                                 "pad": [1, 1, 1, 1]}), "qavg_pool2d"),
    "tanh": (lambda: one_layer("tanh", (16, 30)), "qlut"),
    "gelu": (lambda: one_layer("gelu", (16, 30)), "qlut"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_lowers_within_a_step(case):
    build, result_op = CASES[case]
    lowered, stats, off = lower_and_compare(build())
    assert lowered.find("y").producer.op == result_op
    assert result_op in stats and "float" not in stats
    assert off.max() <= 1 and np.mean(off == 0) >= 0.97


STAY_FLOAT = {
    # windows near the border count fewer elements: no single multiplier
    "avg-pool-uncounted-padding": lambda: one_layer("avg_pool2d", (2, 3, 8, 8), {"kernel": [3, 3], "pad": [1, 1, 1, 1],
                                                                                  "count_include_pad": False}),
    # per-channel scales on the contraction axis (fake_quant's axis 0) cannot be factored out of the sum
    "matmul-weight-scaled-per-row": lambda: one_layer("matmul", (4, 6), weight=normal(6, 3)),
    "conv-transpose": lambda: one_layer("conv_transpose2d", (1, 4, 5, 5), {"stride": [2, 2]}, normal(4, 2, 3, 3)),
}


@pytest.mark.parametrize("case", sorted(STAY_FLOAT))
def test_unsupported_layers_stay_float_between_explicit_conversions(case):
    g = STAY_FLOAT[case]()
    lowered, stats, off = lower_and_compare(g)
    y = lowered.find("y").producer
    assert y.op == "quantize" and y.inputs[0].producer.op == g.find("y").producer.op
    assert stats["float"] == 1 and off.max() == 0


def test_product_of_wide_operands_overflows():
    g = one_layer("mul", (4, 4), second=(4, 4))
    # non-negative ranges put the i16 zero points at -32768: |q - zp| reaches 65535
    inputs = [np.abs(normal(4, 4)), np.abs(normal(4, 4))]
    with pytest.raises(PassError, match=r"layer %y \(mul\).*1 terms of magnitude up to"):
        PassManager("lower").run(fake_quantize_graph(g, inputs, act="i16"), PassContext())
