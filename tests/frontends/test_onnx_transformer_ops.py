"""The ONNX ops transformer exports use besides the CNN ones (And/Or/Xor, IsNaN,
GatherElements, GatherND, a bool ConstantOfShape, Slice with computed bounds), Split of
a dynamic axis and the legacy exporter's constant shape arithmetic: each imports with
no opaque node, matches onnxruntime, and its float export runs in onnxruntime alike."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from backends.onnx.export import to_onnx
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.onnx_models import floats, import_and_compare as check, ints, make_model as model
from qcompiler.testing.onnx_models import opaque_ops as opaque, run_onnxruntime, tensor as t, untyped

F, B, I64 = TensorProto.FLOAT, TensorProto.BOOL, TensorProto.INT64
RNG = np.random.default_rng(0)


def x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def bools(*shape):
    return RNG.random(shape) > 0.5


def with_nans(*shape):
    v = x(*shape)
    v[RNG.random(shape) > 0.6] = np.nan
    return v


# name: (nodes, graph inputs, initializers, feeds, the catalog op it becomes)
CASES = {
    "and": ([helper.make_node("And", ["a", "b"], ["y"])], [t("a", [2, 3], B), t("b", [1, 3], B)], [],
            {"a": bools(2, 3), "b": bools(1, 3)}, "where"),
    "or": ([helper.make_node("Or", ["a", "b"], ["y"])], [t("a", [2, 3], B), t("b", [2, 1], B)], [],
           {"a": bools(2, 3), "b": bools(2, 1)}, "where"),
    "xor": ([helper.make_node("Xor", ["a", "b"], ["y"])], [t("a", [2, 3], B), t("b", [2, 3], B)], [],
            {"a": bools(2, 3), "b": bools(2, 3)}, "not"),
    "isnan": ([helper.make_node("IsNaN", ["x"], ["y"])], [t("x", [3, 4])], [], {"x": with_nans(3, 4)}, "isnan"),
    "gather_elements": ([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1)],
                        [t("x", [3, 5]), t("i", [2, 4], I64)], [],
                        {"x": x(3, 5), "i": RNG.integers(-5, 5, (2, 4))}, "gather_elements"),
    "gather_nd": ([helper.make_node("GatherND", ["x", "i"], ["y"])], [t("x", [3, 4, 2]), t("i", [2, 1, 2], I64)], [],
                  {"x": x(3, 4, 2), "i": np.stack([RNG.integers(-3, 3, (2, 1)), RNG.integers(0, 4, (2, 1))], -1)},
                  "gather_nd"),
    # the bool and int64 fills of the legacy BERT export's mask builder
    "constant_of_shape_bool": ([helper.make_node("Shape", ["x"], ["s"]),
                                helper.make_node("ConstantOfShape", ["s"], ["c"], value=helper.make_tensor("v", B, [1], [True])),
                                helper.make_node("Xor", ["c", "m"], ["y"])],
                               [t("x", ["N", 3]), t("m", ["N", 3], B)], [], {"x": x(2, 3), "m": bools(2, 3)},
                               "constant_of_shape"),
    # position_ids[:, :seq], seq read from the input's shape at run time
    "slice_computed_end": ([helper.make_node("Shape", ["x"], ["s"], start=1, end=2),
                            helper.make_node("Slice", ["table", "zero", "s", "one"], ["y"])],
                           [t("x", ["N", "S"])], [floats("table", x(1, 8)), ints("zero", [0]), ints("one", [1])],
                           {"x": x(2, 5)}, "dynamic_slice"),
}


@pytest.mark.parametrize("case", CASES)
def test_converter_matches_onnxruntime_and_exports(case):
    nodes, inputs, inits, feeds, op = CASES[case]
    m = model(nodes, inputs, [untyped("y")], 17, inits=inits)
    g = check(m, feeds)
    assert op in g.op_counts() and opaque(g) == []
    (expected,) = run_graph(g, feeds)
    (exported,) = run_onnxruntime(to_onnx(g), feeds)
    np.testing.assert_array_equal(exported, expected)


def test_computed_slice_keeps_following_the_input_size():
    nodes, inputs, inits, _, _ = CASES["slice_computed_end"]
    g = check(model(nodes, inputs, [untyped("y")], 17, inits=inits), {"x": x(1, 3)})
    for size in (1, 7, 12):  # 12 is past the table's 8: clamped like onnxruntime
        assert run_graph(g, {"x": x(2, size)})[0].shape == (1, min(size, 8))


def test_constant_shape_arithmetic_folds_so_the_reshape_keeps_its_rank():
    """The legacy nn.MultiheadAttention export: Slice(shape, 0, Reshape(Mod(2, 3))) feeds a
    reshape target; Mod has no converter, the folded bound makes the slice static."""
    nodes = [helper.make_node("Mod", ["two", "three"], ["m"]),
             helper.make_node("Reshape", ["m", "one"], ["end"]),
             helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "zero", "end"], ["lead"]),
             helper.make_node("Concat", ["lead", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = [ints("two", [2]), ints("three", [3]), ints("one", [1]), ints("zero", [0]), ints("minus_one", [-1])]
    m = model(nodes, [t("x", ["N", "S", 4, 2])], [untyped("y")], 17, inits=inits)
    g = check(m, {"x": x(2, 3, 4, 2)})
    assert opaque(g) == [] and "dynamic_slice" not in g.op_counts()
    assert g.outputs[0].type.rank == 3


@pytest.mark.parametrize("opset, sizes", [(18, [(2, 9), (2, 7)]), (13, [(2, 9), (1, 12)])])
def test_split_of_a_dynamic_axis_into_equal_pieces_follows_the_size(opset, sizes):
    """num_outputs (18) or no sizes (before): pieces of ceil(dim / 3), the last shorter."""
    node = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, **({"num_outputs": 3} if opset >= 18 else {}))
    m = model([node], [t("x", ["N", "S"])], [untyped(n) for n in "abc"], opset)
    for size in sizes:
        feeds = {"x": x(*size)}
        g = check(m, feeds)
        assert opaque(g) == [] and g.op_counts()["dynamic_slice"] == 3
        assert [v.name for v in g.outputs] == ["a", "b", "c"]
        for ours, exported in zip(run_graph(g, feeds), run_onnxruntime(to_onnx(g), feeds)):
            np.testing.assert_array_equal(exported, ours)
