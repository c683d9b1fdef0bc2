"""ONNX import on small hand-built models: opset differences (attributes that became
inputs), dynamic batch, opaque ops, initializers, external data and malformed files.
Every numeric case runs the imported graph with the numpy reference interpreter and
compares it with onnxruntime on the original model."""
from pathlib import Path

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


# --- nn ops ------------------------------------------------------------------------------

@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_auto_pad_is_resolved_to_explicit_pads(auto_pad):
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], auto_pad=auto_pad, strides=[2, 2], kernel_shape=[4, 3])
    m = model([node], [t("x", [1, 2, 9, 8])], [t("y", None)], 13, inits=[floats("w", x(3, 2, 4, 3)), floats("b", x(3))])
    g = check(m, {"x": x(1, 2, 9, 8)}, tol=1e-4)
    (conv,) = [n for n in g.nodes if n.op == "conv2d"]
    assert len(conv.attrs["pad"]) == 4


def test_small_cnn_maps_every_op_and_matches_onnxruntime():
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], group=1),
        helper.make_node("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["bn"], epsilon=1e-3),
        helper.make_node("HardSigmoid", ["bn"], ["hs"]),  # ONNX default alpha 0.2
        helper.make_node("Mul", ["bn", "hs"], ["a1"]),
        helper.make_node("Conv", ["a1", "dw"], ["c2"], group=4, pads=[1, 1, 1, 1], dilations=[1, 1]),
        helper.make_node("LeakyRelu", ["c2"], ["a2"]),
        helper.make_node("MaxPool", ["a2"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["p1"], ["p2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("ConvTranspose", ["p2", "wt"], ["up"], strides=[2, 2], kernel_shape=[2, 2]),
        helper.make_node("GlobalAveragePool", ["up"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["logits"], transB=1, alpha=0.5),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1),
    ]
    inits = [floats("w1", x(4, 3, 3, 3)), floats("g", RNG.uniform(0.5, 1.5, 4)), floats("be", x(4)),
             floats("mu", x(4)), floats("var", RNG.uniform(0.5, 2, 4)), floats("dw", x(4, 1, 3, 3)),
             floats("wt", x(4, 2, 2, 2)), floats("fc", x(5, 2)), floats("fcb", x(5))]
    m = model(nodes, [t("x", ["batch", 3, 8, 8])], [t("y", ["batch", 5])], 12, inits=inits)
    g = check(m, {"x": x(2, 3, 8, 8)}, tol=1e-4)
    assert opaque(g) == []
    (hs,) = [n for n in g.nodes if n.op == "hardsigmoid"]
    assert hs.attrs["alpha"] == pytest.approx(0.2)
    assert {n.attrs["origin"] for n in g.nodes if n.op == "const"} >= {"w1", "fc", "wt"}


@pytest.mark.parametrize("axis", [0, 1, 2, 3])
def test_flatten_always_gives_two_dims(axis):
    m = model([helper.make_node("Flatten", ["x"], ["y"], axis=axis)], [t("x", ["N", 3, 4])], [t("y", None)], 13)
    g = check(m, {"x": x(2, 3, 4)})
    assert g.outputs[0].type.rank == 2


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


# --- opaque ops -------------------------------------------------------------------------

def test_unknown_op_stays_opaque_keeps_attributes_and_runs():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Hardmax", ["r"], ["h"], axis=0),
             helper.make_node("ThresholdedRelu", ["x"], ["tr"], alpha=0.3),
             helper.make_node("Add", ["h", "tr"], ["y"])]
    m = model(nodes, [t("x", ["N", 6])], [t("y", ["N", 6])], 17)
    g, report = import_onnx(m, report=True)
    assert opaque(g) == ["onnx.Hardmax", "onnx.ThresholdedRelu"]
    assert {r.op for r in report} == {"onnx.Hardmax", "onnx.ThresholdedRelu"}
    (h,) = [n for n in g.nodes if n.op == "onnx.Hardmax"]
    assert h.attrs == {"axis": 0} and h.output.type.shape == ("N", 6)
    assert g.opset_imports == {"": 17}
    check(m, {"x": x(4, 6)})


def test_custom_domain_op_is_domain_qualified_and_takes_declared_types():
    node = helper.make_node("FastGelu", ["x"], ["y"], domain="com.microsoft")
    m = model([node], [t("x", [2, 8])], [t("y", [2, 8])], 17, domains=["com.microsoft"])
    g = check(m, {"x": x(2, 8)}, tol=1e-4)
    assert opaque(g) == ["onnx.com.microsoft.FastGelu"] and g.opset_imports["com.microsoft"] == 1


def test_opaque_op_with_a_skipped_leading_output_runs():
    # an LSTM whose sequence output Y is not requested: only Y_h (output 1) is produced
    hidden, inp = 3, 4
    node = helper.make_node("LSTM", ["x", "W", "R"], ["", "h"], hidden_size=hidden)
    inits = [floats("W", x(1, 4 * hidden, inp)), floats("R", x(1, 4 * hidden, hidden))]
    m = model([node], [t("x", [5, 2, inp])], [t("h", [1, 2, hidden])], 14, inits=inits)
    g = check(m, {"x": x(5, 2, inp)}, tol=1e-5)
    (lstm,) = [n for n in g.nodes if n.op == "onnx.LSTM"]
    assert lstm.attrs["onnx.output_slots"] == [1] and len(lstm.outputs) == 1


def test_control_flow_is_rejected_naming_the_node():
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["o"])], "b", [], [t("o", [2])])
    node = helper.make_node("If", ["c"], ["y"], name="the_if", then_branch=branch, else_branch=branch)
    m = model([node], [t("c", [], TensorProto.BOOL), t("x", [2])], [t("y", [2])], 17)
    with pytest.raises(FrontendError, match="the_if.*subgraph"):
        import_onnx(m)


def test_inconsistent_shapes_error_names_the_node():
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="bad_matmul")
    m = model([node], [t("a", [2, 3]), t("b", [4, 5])], [t("y", None)], 17)
    with pytest.raises(FrontendError, match="bad_matmul"):
        import_onnx(m)


# --- constants ----------------------------------------------------------------------

def test_graph_inputs_that_are_initializers_are_constants():
    node = helper.make_node("Add", ["x", "w"], ["y"])
    m = model([node], [t("x", [3]), t("w", [3])], [t("y", [3])], 9, inits=[floats("w", [1, 2, 3])], ir_version=3)
    g = import_onnx(m)
    assert [v.name for v in g.inputs] == ["x"]
    (w,) = [n for n in g.nodes if n.op == "const"]
    assert w.attrs["origin"] == "w"
    np.testing.assert_array_equal(run_graph(g, [np.zeros(3, np.float32)])[0], [1, 2, 3])


def test_constant_nodes_become_consts():
    nodes = [helper.make_node("Constant", [], ["k"], value=floats("kv", [[2.0, 3.0]])),
             helper.make_node("Constant", [], ["s"], value_ints=[3, 4]),
             helper.make_node("Mul", ["x", "k"], ["m"]),
             helper.make_node("Reshape", ["m", "s"], ["y"])]
    m = model(nodes, [t("x", [2, 3, 1])], [t("y", [3, 4])], 13)
    g = check(m, {"x": x(2, 3, 1)})
    consts = {n.output.name: n for n in g.nodes if n.op == "const"}
    assert consts["k"].attrs["origin"] == "k" and "origin" not in consts["s"].attrs
    assert g.outputs[0].type.shape == (3, 4)  # reshape read the constant shape


# --- files ----------------------------------------------------------------------------

def _external_model(folder, location):
    """A Gemm whose weight lives in external data at `location` (relative to folder)."""
    node = helper.make_node("Gemm", ["x", "w"], ["y"])
    w = x(4, 3)
    m = model([node], [t("x", [2, 4])], [t("y", [2, 3])], 17, inits=[floats("w", w)])
    onnx.external_data_helper.convert_model_to_external_data(m, location="weights.bin", size_threshold=0)
    onnx.save_model(m, str(folder / "model.onnx"))  # writes folder/weights.bin
    tensor = m.graph.initializer[0]
    for entry in tensor.external_data:
        if entry.key == "location":
            entry.value = str(location)
    onnx.save_model(m, str(folder / "model.onnx"))
    return folder / "model.onnx", w


def test_external_data_inside_the_model_folder_loads(tmp_path):
    path, w = _external_model(tmp_path, "weights.bin")
    g = import_onnx(path)
    feed = x(2, 4)
    np.testing.assert_allclose(run_graph(g, [feed])[0], feed @ w, rtol=1e-5)
    assert g.name == "m"


@pytest.mark.parametrize("escape", ["relative", "absolute"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, escape):
    inner = tmp_path / "model"
    inner.mkdir()
    _external_model(inner, "weights.bin")
    (inner / "weights.bin").rename(tmp_path / "weights.bin")
    location = "../weights.bin" if escape == "relative" else str(tmp_path / "weights.bin")
    path, _ = _external_model(inner, location)
    with pytest.raises(FrontendError, match=f"tensor 'w'.*{escape == 'relative' and '../weights.bin' or 'weights.bin'}"):
        import_onnx(path)


def test_missing_external_data_file_is_named(tmp_path):
    path, _ = _external_model(tmp_path, "weights.bin")
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(FrontendError, match="tensor 'w'.*weights.bin.*does not exist"):
        import_onnx(path)


def test_truncated_model_file_is_named(tmp_path):
    import rapidocr_onnxruntime

    data = (Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(FrontendError, match="cut.onnx"):
        import_onnx(path)


def test_missing_and_garbage_files_are_named(tmp_path):
    with pytest.raises(FrontendError, match="nope.onnx"):
        import_onnx(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01 this is not protobuf \xff" * 10)
    with pytest.raises(FrontendError, match="junk.onnx"):
        import_onnx(tmp_path / "junk.onnx")


# --- one node each, compared with onnxruntime ---------------------------------------------

I64 = TensorProto.INT64
SINGLE_NODE_CASES = {
    # name: (node, inputs, initializers, opset, catalog op it must map to)
    "prelu_last_axis_slope": (helper.make_node("PRelu", ["x", "s"], ["y"]), [t("x", [2, 3, 4])],
                              [floats("s", [0.1, 0.2, 0.3, 0.4])], 16, "prelu"),
    "prelu_channel_slope": (helper.make_node("PRelu", ["x", "s"], ["y"]), [t("x", [2, 3, 4])],
                            [floats("s", [[0.1], [0.2], [0.3]])], 16, "prelu"),
    "max_variadic": (helper.make_node("Max", ["x", "a", "b"], ["y"]), [t("x", [2, 3])],
                     [floats("a", [0.1, 0.2, -0.3]), floats("b", [[0.5], [-2.0]])], 13, "maximum"),
    "sum_variadic": (helper.make_node("Sum", ["x", "a", "a"], ["y"]), [t("x", [2, 3])], [floats("a", [1, 2, 3])], 13, "add"),
    "dropout": (helper.make_node("Dropout", ["x"], ["y"], ratio=0.3), [t("x", [2, 3])], [], 10, "identity"),
    "gelu_tanh": (helper.make_node("Gelu", ["x"], ["y"], approximate="tanh"), [t("x", [2, 3])], [], 20, "gelu"),
    "layer_norm": (helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-2, epsilon=1e-3),
                   [t("x", [2, 3, 4])], [floats("g", np.ones((3, 4)) * 1.5), floats("b", np.ones((3, 4)))], 17, "layer_norm"),
    "instance_norm": (helper.make_node("InstanceNormalization", ["x", "g", "b"], ["y"]), [t("x", [2, 3, 5])],
                      [floats("g", [1, 2, 3]), floats("b", [0, 1, 0])], 13, "instance_norm"),
    "argmax": (helper.make_node("ArgMax", ["x"], ["y"], axis=1, keepdims=0), [t("x", [2, 5])], [], 13, "argmax"),
    "cast_where": (helper.make_node("Where", ["c", "x", "x2"], ["y"]), [t("x", [2, 3]), t("c", [2, 3], TensorProto.BOOL)],
                   [floats("x2", np.zeros((2, 3)))], 16, "where"),
    "gather_negative": (helper.make_node("Gather", ["x", "i"], ["y"], axis=1), [t("x", [2, 5])], [ints("i", [[-1, 0]])], 13, "gather"),
    "expand": (helper.make_node("Expand", ["x", "s"], ["y"]), [t("x", [3, 1])], [ints("s", [2, 1, 4])], 13, "expand"),
    "tile": (helper.make_node("Tile", ["x", "r"], ["y"]), [t("x", [2, 3])], [ints("r", [2, 1])], 13, "tile"),
    "transpose_default": (helper.make_node("Transpose", ["x"], ["y"]), [t("x", [2, 3, 4])], [], 13, "transpose"),
    "matmul_batched": (helper.make_node("MatMul", ["x", "w"], ["y"]), [t("x", [2, 3, 4])], [floats("w", np.ones((4, 5)))], 13, "matmul"),
    "cumsum": (helper.make_node("CumSum", ["x", "ax"], ["y"]), [t("x", [2, 3])], [ints("ax", 1)], 14, "cumsum"),
    "cast": (helper.make_node("Cast", ["x"], ["y"], to=I64), [t("x", [2, 3])], [], 13, "cast"),
    "shape_slice": (helper.make_node("Shape", ["x"], ["y"], start=1), [t("x", [2, 3, 4])], [], 15, "shape"),
    "constant_of_shape": (helper.make_node("ConstantOfShape", ["s"], ["y"], value=ints("v", [7])), [t("x", [1])],
                          [ints("s", [2, 2])], 13, "constant_of_shape"),
    "range": (helper.make_node("Range", ["a", "b", "c"], ["y"]), [t("x", [1])],
              [floats("a", 1.0), floats("b", 4.0), floats("c", 0.5)], 13, "range"),
}


@pytest.mark.parametrize("case", SINGLE_NODE_CASES)
def test_single_node_maps_to_the_catalog_and_matches_onnxruntime(case):
    node, inputs, inits, opset, op = SINGLE_NODE_CASES[case]
    m = model([node], inputs, [helper.make_empty_tensor_value_info("y")], opset, inits=inits)
    feeds = {i.name: (x(*[d.dim_value for d in i.type.tensor_type.shape.dim]) if i.type.tensor_type.elem_type == F
                      else RNG.random([d.dim_value for d in i.type.tensor_type.shape.dim]) > 0.5) for i in inputs}
    if node.op_type in ("ConstantOfShape", "Range"):
        m.graph.output.append(t("x", [1]))  # keep the (otherwise unused) input alive
    g = check(m, feeds, tol=1e-5)
    assert op in g.op_counts() and opaque(g) == []
