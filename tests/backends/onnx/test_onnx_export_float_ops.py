"""Float export, op by op: each catalog op exported at old and new opsets (where ONNX
moved operands to inputs or added the op) and run in onnxruntime equals the numpy
reference interpreter on the IR graph."""
import numpy as np
import pytest

from qcompiler.backends.onnx import to_onnx
from qcompiler.runtime.reference import run_graph

from onnx_export_helpers import graph_of, run_onnx

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def ints(*values):
    return np.array(values, np.int64)


def op(name, **attrs):
    """A case body applying catalog op `name` to the inputs (consts given as arrays)."""
    def body(g, *xs):
        return g.add(name, list(xs), attrs).outputs
    return body


def with_consts(name, consts, **attrs):
    """Like `op`, with constant operands appended after the inputs."""
    def body(g, *xs):
        return g.add(name, list(xs) + [g.constant(c, name=f"c{i}") for i, c in enumerate(consts)], attrs).outputs
    return body


X4 = rand(2, 3, 7, 6)
W = rand(4, 3, 3, 2)
CASES = {
    "conv2d": (with_consts("conv2d", [W, rand(4)], stride=[2, 1], pad=[1, 0, 2, 1], dilation=[1, 2],
                           activation="relu6"), [X4]),
    "conv2d_groups_leaky": (with_consts("conv2d", [rand(6, 1, 3, 3)], groups=3, pad=[1, 1],
                                        activation="leaky_relu", activation_alpha=0.2), [X4]),
    "conv2d_hardswish": (with_consts("conv2d", [W], activation="hardswish"), [X4]),
    "conv2d_clip_max": (with_consts("conv2d", [W], activation="clip", activation_max=0.5), [X4]),
    "conv2d_reflect": (with_consts("conv2d", [W], pad=[1, 2, 1, 0], pad_mode="reflect"), [X4]),
    "conv2d_replicate": (with_consts("conv2d", [W], pad=[2, 1, 1, 1], pad_mode="replicate"), [X4]),
    "conv1d": (with_consts("conv1d", [rand(5, 3, 3), rand(5)], pad=[2, 1], stride=[2]), [rand(2, 3, 9)]),
    "conv_transpose2d": (with_consts("conv_transpose2d", [rand(3, 2, 3, 3), rand(6)], stride=[2, 2],
                                     pad=[1, 0, 0, 1], output_padding=[1, 0], groups=3, activation="sigmoid"), [X4]),
    "linear_rank3": (with_consts("linear", [rand(5, 6), rand(5)], activation="relu"), [rand(2, 4, 6)]),
    "linear_rank2": (with_consts("linear", [rand(5, 6), rand(5)]), [rand(3, 6)]),
    "gemm": (with_consts("gemm", [rand(5, 4), rand(5)], alpha=0.5, beta=2.0, trans_a=True, trans_b=True),
             [rand(4, 3)]),
    "matmul": (op("matmul"), [rand(2, 3, 4), rand(4, 5)]),
    "batch_norm": (with_consts("batch_norm", [rand(3), rand(3), rand(3), np.abs(rand(3)) + 0.5], eps=1e-3), [X4]),
    "instance_norm": (with_consts("instance_norm", [rand(3), rand(3)]), [X4]),
    "layer_norm": (with_consts("layer_norm", [rand(7, 6), rand(7, 6)], axis=-2), [X4]),
    "layer_norm_no_weight": (op("layer_norm", axis=-1, eps=1e-3), [X4]),
    "max_pool2d": (op("max_pool2d", kernel=[3, 2], pad=[1, 0, 1, 1], dilation=[1, 2], ceil_mode=True), [X4]),
    "max_pool1d": (op("max_pool1d", kernel=[2]), [rand(2, 3, 9)]),
    "avg_pool2d": (op("avg_pool2d", kernel=[3, 3], stride=[2, 2], pad=[1, 1, 1, 1], ceil_mode=True,
                      count_include_pad=False), [X4]),
    "avg_pool1d": (op("avg_pool1d", kernel=[3], stride=[1], pad=[1, 1]), [rand(2, 3, 9)]),
    "global_pools": (lambda g, x: [g.add("global_avg_pool", [x]).output, g.add("global_max_pool", [x]).output], [X4]),
    "adaptive_avg_pool2d": (op("adaptive_avg_pool2d", output_size=[3, 4]), [X4]),
    "adaptive_avg_pool2d_even": (op("adaptive_avg_pool2d", output_size=[7, 3]), [X4]),
    "softmax_axis1": (op("softmax", axis=1), [X4]),
    "log_softmax": (op("log_softmax"), [X4]),
    "gelu": (op("gelu"), [X4]),
    "gelu_tanh": (op("gelu", approximate="tanh"), [X4]),
    "hardswish": (op("hardswish"), [X4]),
    "activations": (lambda g, x: [g.add(o, [x]).output for o in ("silu", "softplus", "sigmoid", "tanh", "relu6")]
                    + [g.add("hardsigmoid", [x], {"alpha": 0.2}).output, g.add("elu", [x], {"alpha": 0.5}).output,
                       g.add("clip", [x], {"min": -0.5}).output], [X4]),
    "prelu": (with_consts("prelu", [rand(3)]), [X4]),
    "promotion": (lambda g, x: [g.add("mul", [x, g.constant(ints(2))]).output,
                                g.add("pow", [x, g.constant(np.float32(2))]).output], [X4]),
    "integer_math": (lambda g, a, b: [g.add("div", [a, b]).output, g.add("floor", [a]).output,
                                      g.add("less_equal", [a, b]).output, g.add("greater_equal", [a, b]).output,
                                      g.add("not", [a]).output], [ints(-7, 7, 0, 9), ints(2, -2, 3, 9)]),
    "unary": (lambda g, x: [g.add(o, [x]).output for o in ("rsqrt", "sqrt", "log", "reciprocal", "erf", "exp")],
              [np.abs(X4) + 0.1]),
    "where": (lambda g, x: g.add("where", [g.add("greater", [x, g.constant(np.float32(0))]).output, x,
                                           g.constant(ints(0))]).output, [X4]),
    "reshape": (lambda g, x: g.add("reshape", [x, g.constant(ints(0, -1, 3))]).output, [X4]),
    "flatten_middle": (op("flatten", start_dim=1, end_dim=2), [X4]),
    "flatten_dynamic": (op("flatten", start_dim=0, end_dim=1), [X4], [("N", 3, "H", "W")]),
    "transpose": (op("transpose", perm=[0, 2, 3, 1]), [X4]),
    "concat": (op("concat", axis=-1), [X4, X4[..., :2]]),
    "split": (op("split", axis=3, sizes=[1, 2, 3]), [X4]),
    "slice": (op("slice", starts=[-1, 0], ends=[-100, 5], axes=[3, 2], steps=[-2, 2]), [X4]),
    "gather": (lambda g, x: g.add("gather", [x, g.constant(ints(-1, 0, 1))], {"axis": 2}).output, [X4]),
    "squeeze_unsqueeze": (lambda g, x: g.add("squeeze", [g.add("unsqueeze", [x], {"axes": [0, 3]}).output],
                                             {"axes": [0]}).output, [X4]),
    "expand_tile": (lambda g, x: [g.add("expand", [x, g.constant(ints(2, 3, 1, 1))]).output,
                                  g.add("tile", [x, g.constant(ints(1, 2, 1, 2))]).output], [rand(1, 3, 1, 2)]),
    "pad": (lambda g, x: [g.add("pad", [x], {"pads": [0, 0, 1, 2, 0, 1, 2, 0], "value": 1.5}).output,
                          g.add("pad", [x], {"pads": [0, 0, 1, 0, 0, 0, 2, -1], "mode": "reflect"}).output], [X4]),
    "resize_scales": (lambda g, x: [g.add("resize", [x], {"scales": [2.0, 1.5]}).output,
                                    g.add("resize", [x], {"scales": [1, 1, 0.5, 2.0], "mode": "linear",
                                                          "coord_mode": "align_corners"}).output], [X4]),
    "resize_sizes": (lambda g, x: g.add("resize", [x, g.constant(ints(9, 4))], {"mode": "linear"}).output, [X4]),
    "reductions": (lambda g, x: [g.add("reduce_mean", [x], {"axes": [1, -1]}).output,
                                 g.add("reduce_sum", [x], {"axes": [2], "keepdims": False}).output,
                                 g.add("reduce_max", [x], {"keepdims": False}).output,
                                 g.add("reduce_min", [x], {"axes": []}).output,
                                 g.add("argmax", [x], {"axis": 1}).output], [X4]),
    "shapes": (lambda g, x: [g.add("shape", [x], {"start": 1, "end": -1}).output,
                             g.add("cast", [g.add("shape", [x]).output], {"to": "f32"}).output,
                             g.add("constant_of_shape", [g.constant(ints(2, 3))], {"value": 2.0, "dtype": "i32"}).output,
                             g.add("range", [g.constant(ints(1)), g.constant(ints(10)), g.constant(ints(3))]).output],
               [X4]),
    "cumsum": (lambda g, x: g.add("cumsum", [x, g.constant(ints(2))]).output, [X4]),
    "embedding": (lambda g, i: g.add("embedding", [i, g.constant(rand(5, 3))]).output, [ints(4, 0, 2)]),
}
# opsets around the changes that matter: Split/Squeeze/ReduceSum/Softmax at 13, HardSwish
# at 14, Shape start/end at 15, LayerNormalization at 17, Reduce axes at 18, Gelu at 20
OPSETS = [11, 13, 17, 21]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_reference(case, opset):
    body, arrays, *shapes = CASES[case]
    graph = graph_of(body, *arrays, shapes=shapes[0] if shapes else None)
    model = to_onnx(graph, "float", opset)
    assert model.opset_import[0].version == opset
    feeds = {f"x{i}": a for i, a in enumerate(arrays)}
    ours = run_graph(graph, feeds)
    theirs = run_onnx(model, feeds)
    for v, expected in zip(graph.outputs, ours):
        got = theirs[v.name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, v.name
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=v.name)


@pytest.mark.parametrize("opset", [19, 21])
def test_circular_padding_needs_wrap(opset):
    graph = graph_of(with_consts("conv2d", [W], pad=[1, 1, 2, 1], pad_mode="circular"), X4)
    ours = run_graph(graph, [X4])[0]
    np.testing.assert_allclose(run_onnx(to_onnx(graph, "float", opset), {"x0": X4})[graph.outputs[0].name], ours,
                               rtol=1e-5, atol=1e-5)
