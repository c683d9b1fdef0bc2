"""ONNX import across opsets: operands that were attributes in old opsets and inputs in
new ones (Clip, Split, Squeeze, Unsqueeze, Reduce*, Slice, Pad, Resize), Softmax's pre-13
semantics and dynamic dims. Each case is compared with onnxruntime on the original model."""
import numpy as np
import pytest
from onnx import helper

from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir import FrontendError
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.onnx_models import floats, import_and_compare as check, ints, make_model as model
from qcompiler.testing.onnx_models import opaque_ops as opaque, run_onnxruntime as ort_run, tensor as t

RNG = np.random.default_rng(0)


def x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)



def test_clip_bounds_as_attributes_before_opset_11():
    m = model([helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.7)], [t("x", [2, 8])], [t("y", [2, 8])], 10)
    g = check(m, {"x": x(2, 8)})
    (clip,) = [n for n in g.nodes if n.op == "clip"]
    assert clip.attrs["min"] == pytest.approx(-0.5) and clip.attrs["max"] == pytest.approx(0.7)


def test_clip_bounds_as_constant_inputs_become_attributes():
    m = model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [t("x", [2, 8])], [t("y", [2, 8])], 13,
              inits=[floats("lo", -0.25), floats("hi", 0.5)])
    g = check(m, {"x": x(2, 8)})
    assert g.op_counts() == {"clip": 1}  # the bounds are attributes, no const left over


def test_clip_with_a_computed_bound_stays_opaque_and_runs():
    nodes = [helper.make_node("ReduceMin", ["x"], ["lo"], keepdims=0),
             helper.make_node("Clip", ["x", "lo"], ["y"])]
    m = model(nodes, [t("x", [2, 8])], [t("y", [2, 8])], 13)
    g, report = import_onnx(m, report=True)
    assert opaque(g) == ["onnx.Clip"]
    assert [(r.op, r.node) for r in report] == [("onnx.Clip", "Clip")] and "not a constant" in report[0].reason
    assert g.meta["opaque_ops"] == report
    check(m, {"x": x(2, 8)})


@pytest.mark.parametrize("opset", [11, 13, 18, 21])
def test_split_squeeze_unsqueeze_reduce_axes_across_opsets(opset):
    axes_as_input = {"Split": opset >= 13, "Squeeze": opset >= 13, "Unsqueeze": opset >= 13,
                     "ReduceSum": opset >= 13, "ReduceMean": opset >= 18}
    inits, nodes = [], []

    def node(op, ins, outs, key, values, **attrs):
        if axes_as_input[op]:
            inits.append(ints(f"{op}_{key}", values))
            return helper.make_node(op, ins + [f"{op}_{key}"], outs, **attrs)
        return helper.make_node(op, ins, outs, **{key: values}, **attrs)

    nodes = [node("Split", ["x"], ["a", "b"], "split", [2, 4], axis=1),
             node("Unsqueeze", ["a"], ["a4"], "axes", [0]),
             node("Squeeze", ["a4"], ["a3"], "axes", [0]),
             node("ReduceMean", ["b"], ["m"], "axes", [1], keepdims=0),
             node("ReduceSum", ["b"], ["s"], "axes", [-1])]
    m = model(nodes, [t("x", [3, 6, 5])], [t("a3", [3, 2, 5]), t("m", [3, 5]), t("s", [3, 4, 1])], opset, inits=inits)
    g = check(m, {"x": x(3, 6, 5)})
    assert opaque(g) == []
    assert {"split", "squeeze", "unsqueeze", "reduce_mean", "reduce_sum"} <= set(g.op_counts())


def test_split_into_num_outputs_with_a_short_last_chunk():
    m = model([helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)], [t("x", [2, 7])],
              [t("a", None), t("b", None), t("c", None)], 18)
    g = check(m, {"x": x(2, 7)})
    assert [v.type.shape for v in g.outputs] == [(2, 3), (2, 3), (2, 1)]


@pytest.mark.parametrize("opset", [9, 13])
def test_slice_starts_as_attributes_or_inputs(opset):
    if opset < 10:
        nodes = [helper.make_node("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, 100], axes=[0, 2])]
        inits = []
    else:
        nodes = [helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])]
        inits = [ints("s", [1, -1]), ints("e", [3, -100]), ints("a", [0, 2]), ints("st", [1, -2])]
    m = model(nodes, [t("x", [4, 3, 6])], [t("y", None)], opset, inits=inits)
    assert check(m, {"x": x(4, 3, 6)}).op_counts() == {"slice": 1}


@pytest.mark.parametrize("opset", [2, 11, 18])
def test_pad_pads_as_attribute_input_or_per_axis(opset):
    if opset < 11:
        nodes, inits = [helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 1, 2, 0, 0, 3, 0], value=0.5)], []
    elif opset < 18:
        nodes = [helper.make_node("Pad", ["x", "p", "v"], ["y"], mode="reflect")]
        inits = [ints("p", [0, 0, 1, 2, 0, 0, 3, 0]), floats("v", 0.0)]
    else:
        nodes = [helper.make_node("Pad", ["x", "p", "", "ax"], ["y"], mode="edge")]
        inits = [ints("p", [1, 2, 3, 0]), ints("ax", [2, 3])]
    m = model(nodes, [t("x", [1, 2, 5, 6])], [t("y", None)], opset, inits=inits)
    assert check(m, {"x": x(1, 2, 5, 6)}).op_counts() == {"pad": 1}


@pytest.mark.parametrize("case", ["nearest_asymmetric_floor", "linear_half_pixel", "sizes_align_corners", "axes_18"])
def test_resize_scales_sizes_and_axes(case):
    inits = []
    if case == "nearest_asymmetric_floor":
        node = helper.make_node("Resize", ["x", "", "sc"], ["y"], mode="nearest",
                                coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        inits, opset = [floats("sc", [1, 1, 2, 3])], 13
    elif case == "linear_half_pixel":
        node = helper.make_node("Resize", ["x", "roi", "sc"], ["y"], mode="linear")
        inits, opset = [floats("roi", []), floats("sc", [1, 1, 1.5, 0.5])], 11
    elif case == "sizes_align_corners":
        node = helper.make_node("Resize", ["x", "", "", "sz"], ["y"], mode="linear",
                                coordinate_transformation_mode="align_corners")
        inits, opset = [ints("sz", [1, 2, 7, 9])], 13
    else:
        node = helper.make_node("Resize", ["x", "", "sc"], ["y"], mode="nearest", axes=[2, 3])
        inits, opset = [floats("sc", [2, 2])], 18
    m = model([node], [t("x", [1, 2, 4, 6])], [t("y", None)], opset, inits=inits)
    assert check(m, {"x": x(1, 2, 4, 6)}).op_counts()["resize"] == 1


def test_cubic_resize_stays_opaque():
    node = helper.make_node("Resize", ["x", "", "sc"], ["y"], mode="cubic")
    m = model([node], [t("x", [1, 1, 4, 4])], [t("y", None)], 13, inits=[floats("sc", [1, 1, 2, 2])])
    g, report = import_onnx(m, report=True)
    assert opaque(g) == ["onnx.Resize"] and "cubic" in report[0].reason
    check(m, {"x": x(1, 1, 4, 4)})


@pytest.mark.parametrize("opset,axis", [(11, 1), (11, 2), (11, -1), (13, 1)])
def test_softmax_before_opset_13_normalizes_the_coerced_2d_input(opset, axis):
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=axis)], [t("x", ["N", 3, 4])], [t("y", ["N", 3, 4])], opset)
    check(m, {"x": x(2, 3, 4)})


# --- dynamic dims ---------------------------------------------------------------------

def _relu_model(batch_dim):
    return model([helper.make_node("Relu", ["x"], ["y"])], [t("x", [batch_dim, 4])], [t("y", [batch_dim, 4])], 17)


def test_dynamic_batch_dim_stays_symbolic_and_runs_at_any_batch():
    m = _relu_model("batch")
    g = import_onnx(m)
    assert g.inputs[0].type.shape == ("batch", 4)
    for n in (1, 3):
        feed = x(n, 4)
        np.testing.assert_array_equal(run_graph(g, [feed])[0], ort_run(m, {"x": feed})[0])


def test_dynamic_batch_option_and_input_shapes():
    assert import_onnx(_relu_model("batch"), dynamic_batch=False).inputs[0].type.shape == (1, 4)
    assert import_onnx(_relu_model(1), dynamic_batch=True).inputs[0].type.shape == ("N", 4)
    g = import_onnx(_relu_model(None))
    assert g.inputs[0].type.shape == ("?", 4)
    assert import_onnx(_relu_model("b"), input_shapes={"x": [2, 4]}).outputs[0].type.shape == (2, 4)
    with pytest.raises(FrontendError, match="input_shapes names \\['nope'\\]"):
        import_onnx(_relu_model("b"), input_shapes={"nope": [2, 4]})
