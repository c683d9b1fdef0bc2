"""The torch executor: parameters and gradients, quantized constants and values,
opaque nodes, and the errors it raises."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qcompiler.frontends.fx import import_module
from qcompiler.ir import CodebookType, Dense, Graph, QuantType, TensorType
from qcompiler.numerics.affine import dequantize, fake_quantize, params_from_range, quantize
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.reference import ExecutionError, run_graph
from qcompiler.runtime.torch import run_torch, to_torch
from qcompiler.testing import zoo

RNG = np.random.default_rng(0)



@pytest.fixture(scope="module")
def digits():
    x, y, _, _ = zoo.digits_data()
    model = zoo.train_digits_cnn()
    return model, x[:32], y[:32], import_module(model, x[:32])


def test_model_weights_are_parameters_named_by_origin(digits):
    _, _, _, graph = digits
    gm = to_torch(graph)
    params = dict(gm.named_parameters())
    assert {"features_0_weight", "features_3_weight", "classifier_bias", "features_1_weight"} <= set(params)
    assert all(isinstance(p, torch.nn.Parameter) and p.requires_grad for p in params.values())
    weight_origins = sum(1 for n in graph.nodes if n.op == "const" and "origin" in n.attrs)
    assert len(params) == weight_origins
    assert "features_1_running_mean" in dict(gm.named_buffers())


def test_constants_without_origin_are_buffers():
    g = Graph("g")
    x = g.add_input("x", TensorType("f32", (2, 6)))
    g.set_outputs([g.add("reshape", [x, g.constant(np.array([3, 4]))]).output])
    gm = to_torch(g)
    assert not list(gm.parameters()) and [b.tolist() for b in gm.buffers()] == [[3, 4]]


def test_gradients_reach_the_weights_and_match_the_original_model(digits):
    model, x, y, graph = digits
    gm = to_torch(graph)
    F.cross_entropy(gm(x)[0], y).backward()
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    for name, theirs in [("features_0_weight", model.features[0].weight), ("features_3_weight", model.features[3].weight),
                         ("classifier_weight", model.classifier.weight)]:
        ours = gm.get_parameter(name).grad
        assert ours is not None and ours.abs().sum() > 0
        torch.testing.assert_close(ours, theirs.grad, rtol=1e-4, atol=1e-6)


def test_a_gradient_step_changes_the_module_outputs(digits):
    _, x, y, graph = digits
    gm = to_torch(graph)
    optimizer = torch.optim.SGD(gm.parameters(), lr=1e-3)  # a first-order step on a trained model
    before = F.cross_entropy(gm(x)[0], y)
    before.backward()
    optimizer.step()
    assert F.cross_entropy(gm(x)[0], y) < before


def _linear_with_quantized_weight(qtype: QuantType, floats: np.ndarray) -> tuple:
    g = Graph("qlinear")
    x = g.add_input("x", TensorType("f32", (5, floats.shape[1])))
    w = g.constant(quantize(floats, qtype).astype(np.int8), name="w", origin="fc.weight", type=qtype)
    g.set_outputs([g.add("linear", [x, w]).output])
    return g, RNG.standard_normal((5, floats.shape[1])).astype(np.float32)


def _weight_types(floats: np.ndarray) -> dict:
    grouped = floats.reshape(3, 4, 2)
    return {
        "tensor": QuantType("i8", "f32", floats.shape, *params_from_range(floats.min(), floats.max(), "i8", True)),
        "channel": QuantType("i8", "f32", floats.shape, *params_from_range(floats.min(1), floats.max(1), "i8", False),
                             axis=0),
        "group": QuantType("i4", "f32", floats.shape, *params_from_range(grouped.min(2), grouped.max(2), "i4", True),
                           axis=1, group=2),
    }


@pytest.mark.parametrize("granularity", ["tensor", "channel", "group"])
def test_quantized_constants_are_dequantized(granularity):
    floats = RNG.standard_normal((3, 8)).astype(np.float32)
    qtype = _weight_types(floats)[granularity]
    graph, x = _linear_with_quantized_weight(qtype, floats)
    stored = graph.const_value(graph.nodes[0].output)
    want = x @ dequantize(stored, qtype).T
    np.testing.assert_allclose(run_torch(graph, [x])[0], want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run_torch(graph, [x])[0], run_graph(graph, [x])[0], rtol=1e-6, atol=1e-6)
    assert not list(to_torch(graph).parameters())  # integers: nothing to differentiate


def _relu_with_quantized_output(qtype_for) -> tuple:
    g = Graph("qrelu")
    x = g.add_input("x", TensorType("f32", (4, 6)))
    relu = g.add("relu", [x], output_types=[qtype_for((4, 6))])
    g.set_outputs([g.add("mul", [relu.output, g.constant(np.float32(2.0))]).output])
    return g


@pytest.mark.parametrize("storage,symmetric", [("u8", False), ("i4", True), ("b1", True)])
def test_quantized_values_are_fake_quantized_like_the_reference(storage, symmetric):
    scale, zero_point = params_from_range(0.0, 1.5, storage, symmetric)
    qtype = QuantType(storage, "f32", (4, 6), scale, zero_point)
    graph = _relu_with_quantized_output(lambda shape: qtype)
    x = RNG.standard_normal((4, 6)).astype(np.float32) * 2
    ours = run_torch(graph, [x])[0]
    np.testing.assert_array_equal(ours, run_graph(graph, [x])[0])
    np.testing.assert_array_equal(ours, 2 * fake_quantize(np.maximum(x, 0), qtype))


def test_straight_through_estimator_passes_gradients_inside_the_range():
    scale, zero_point = params_from_range(0.0, 1.0, "u8", False)
    graph = _relu_with_quantized_output(lambda shape: QuantType("u8", "f32", shape, scale, zero_point))
    x = torch.tensor(np.linspace(-1, 2, 24, dtype=np.float32).reshape(4, 6), requires_grad=True)
    to_torch(graph)(x)[0].sum().backward()
    inside = (x > 0) & (x <= 1.0)  # relu kills x <= 0; the quantizer clips above 1
    torch.testing.assert_close(x.grad, torch.where(inside, 2.0, 0.0))


def test_quantized_model_runs_like_the_reference(digits):
    model, x, y, _ = digits
    ctx = PassContext(calibration=[[x.numpy()]])
    quantized = run_pipeline(import_module(model, x), "fold-bn,fuse-activations,calibrate,quantize", ctx)
    assert any(isinstance(v.type, QuantType) for v in quantized.values())
    ours = run_torch(quantized, [x.numpy()])[0]
    np.testing.assert_array_equal(ours, run_graph(quantized, [x.numpy()])[0])
    assert (ours.argmax(1) == y.numpy()).mean() > 0.9
    assert "features_0_weight" in dict(to_torch(quantized).named_buffers())  # integer storage, named by origin


def test_quantize_and_dequantize_ops_run_on_the_float_carrier():
    qtype = QuantType("i8", "f32", (4, 6), *params_from_range(-1.0, 1.0, "i8", True))
    g = Graph("qdq")
    x = g.add_input("x", TensorType("f32", (4, 6)))
    q = g.add("quantize", [x], output_types=[qtype])
    g.set_outputs([g.add("dequantize", [q.output]).output])
    data = RNG.standard_normal((4, 6)).astype(np.float32)
    ours = run_torch(g, [data])[0]
    np.testing.assert_array_equal(ours, run_graph(g, [data])[0])
    np.testing.assert_array_equal(ours, fake_quantize(data, qtype))


def test_integer_ops_without_a_torch_implementation_are_named():
    qtype = QuantType("i8", "f32", (4,), np.float32(0.1), np.int32(0))
    g = Graph("lowered")
    x = g.add_input("x", qtype)
    attrs = {"multiplier": Dense(np.int32(2**30)), "shift": Dense(np.int32(31)), "rounding": "half_even"}
    g.set_outputs([g.add("requantize", [x], attrs, name="rq", output_types=[qtype]).output])
    with pytest.raises(ExecutionError, match="node 'requantize' \\(%rq\\): op 'requantize' has no torch implementation"):
        to_torch(g)


def test_numpy_scalar_attributes_are_accepted():
    g = Graph("attrs")
    x = g.add_input("x", TensorType("f32", (5,)))
    g.set_outputs([g.add("clip", [x], {"min": np.float32(-0.5), "max": np.float64(0.25)}).output])
    data = np.linspace(-1, 1, 5, dtype=np.float32)
    np.testing.assert_array_equal(run_torch(g, [data])[0], np.clip(data, -0.5, 0.25))


def test_opaque_nodes_run_through_onnxruntime():
    g = Graph("opaque")
    g.opset_imports[""] = 17
    x = g.add_input("x", TensorType("f32", (3, 5)))
    hardmax = g.add("onnx.Hardmax", [x], {"axis": 1}, output_types=[TensorType("f32", (3, 5))])
    g.set_outputs([g.add("add", [hardmax.output, x]).output])
    data = RNG.standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_array_equal(run_torch(g, [data])[0], run_graph(g, [data])[0])
    inputs = torch.from_numpy(data).requires_grad_()
    to_torch(g)(inputs)[0].sum().backward()  # the module still differentiates around the opaque node
    torch.testing.assert_close(inputs.grad, torch.ones(3, 5))


def test_types_it_cannot_simulate_are_named():
    g = Graph("mini")
    x = g.add_input("x", TensorType("f32", (2,)))
    g.set_outputs([g.add("relu", [x], name="act", output_types=[CodebookType(8, 2, (1,), "f32", (2,))]).output])
    with pytest.raises(ExecutionError, match="value %act: the torch executor cannot simulate CodebookType"):
        to_torch(g)


def test_inputs_are_checked_like_the_reference(digits):
    _, x, _, graph = digits
    with pytest.raises(ExecutionError, match=r"expected shape \[32, 1, 8, 8\], got \[2, 1, 8, 8\]"):
        run_torch(graph, [x[:2].numpy()])
    out = run_torch(graph, {graph.inputs[0].name: x.numpy()})
    assert out[0].shape == (32, 10)
