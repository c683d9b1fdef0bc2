"""ONNX import on small hand-built models: opset differences (attributes that became
inputs), dynamic batch, opaque ops, initializers, external data and malformed files.
Every numeric case runs the imported graph with the numpy reference interpreter and
compares it with onnxruntime on the original model."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir import FrontendError, verify
from qcompiler.runtime.reference import run_graph

F = TensorProto.FLOAT
RNG = np.random.default_rng(0)


def model(nodes, inputs, outputs, opset, inits=(), value_info=(), ir_version=None, domains=()):
    graph = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits), value_info=list(value_info))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(graph, opset_imports=opsets)
    m.ir_version = ir_version or min(m.ir_version, 10)
    return m


def t(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def floats(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def ort_run(m, feeds):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def check(m, feeds, tol=1e-5, **kw):
    """Import, verify, run both ways and compare; returns the imported graph."""
    g = import_onnx(m, **kw)
    verify(g)
    ours = run_graph(g, feeds)
    for a, b in zip(ours, ort_run(m, feeds)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    return g


def x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def opaque(g):
    return sorted(n.op for n in g.nodes if n.op.startswith("onnx."))


# --- attributes that became inputs ----------------------------------------------------

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


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_squeeze_unsqueeze_reduce_axes_across_opsets(opset):
    axes_as_input = {"Split": opset >= 13, "Squeeze": opset >= 13, "Unsqueeze": opset >= 13, "ReduceMean": opset >= 18}
    inits, nodes = [], []

    def node(op, ins, outs, key, values, **attrs):
        if axes_as_input[op]:
            inits.append(ints(f"{op}_{key}", values))
            return helper.make_node(op, ins + [f"{op}_{key}"], outs, **attrs)
        return helper.make_node(op, ins, outs, **{key: values}, **attrs)

    nodes = [node("Split", ["x"], ["a", "b"], "split", [2, 4], axis=1),
             node("Unsqueeze", ["a"], ["a4"], "axes", [0]),
             node("Squeeze", ["a4"], ["a3"], "axes", [0]),
             node("ReduceMean", ["b"], ["m"], "axes", [1], keepdims=0)]
    m = model(nodes, [t("x", [3, 6, 5])], [t("a3", [3, 2, 5]), t("m", [3, 5])], opset, inits=inits)
    g = check(m, {"x": x(3, 6, 5)})
    assert opaque(g) == []
    assert {"split", "squeeze", "unsqueeze", "reduce_mean"} <= set(g.op_counts())


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
