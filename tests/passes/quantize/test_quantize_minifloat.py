"""quantize{weights=e4m3, acts=e4m3} (and the 6/4-bit formats) on the digits CNN."""
import numpy as np
import pytest
import torch

from qcompiler.frontends.fx import import_module
from qcompiler.ir.types import MinifloatType
from qcompiler.ir.verifier import verify
from qcompiler.numerics.minifloat import fake_quantize
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.pipelines import PipelineError
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.zoo import digits_data, train_digits_cnn

CALIBRATE = "fold-bn,calibrate{method=minmax,samples=64}"


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    model = train_digits_cnn()
    x_train, _, x_test, y_test = digits_data()
    graph = import_module(model, x_train[:4], dynamic_batch=True)
    x_test = x_test[:200].numpy()
    return model, x_train[:64].numpy(), x_test, y_test[:200].numpy(), run_graph(graph, [x_test])[0]


def quantized(digits, quantize: str):
    model, x_train, *_ = digits
    graph = import_module(model, torch.from_numpy(x_train[:4]), dynamic_batch=True)
    run_pipeline(graph, f"{CALIBRATE},{quantize}", PassContext(calibration=x_train))
    verify(graph)
    return graph


def weights(graph) -> list:
    return [n for n in graph.nodes if n.op == "const" and isinstance(n.output.type, MinifloatType)]


def test_e4m3_matches_float_accuracy_and_keeps_every_weight_on_its_grid(digits):
    *_, x_test, y_test, reference = digits
    graph = quantized(digits, "quantize{weights=e4m3, acts=e4m3}")
    assert len(weights(graph)) == 3 and all(n.output.type.axis == 0 for n in weights(graph))
    for node in weights(graph):
        value = node.attrs["value"].array
        np.testing.assert_array_equal(fake_quantize(value, node.output.type), value)
    layers = [n for n in graph.nodes if n.op in ("conv2d", "linear")]
    assert [n.attrs["q.format"] for n in layers] == ["e4m3"] * 3
    assert all(isinstance(n.inputs[0].type, MinifloatType) for n in layers)
    out = run_graph(graph, [x_test])[0]
    assert sqnr_db(reference, out) > 25  # measured 29 dB
    assert (out.argmax(1) == y_test).mean() >= (reference.argmax(1) == y_test).mean() - 0.01
    # torch convolutions sum in another order: a value next to a rounding midpoint may
    # take the neighbouring code, so a few logits move by one step of an activation's grid
    close = np.isclose(run_torch(graph, [x_test])[0], out, rtol=1e-4, atol=1e-4)
    assert close.mean() > 0.99


def test_mse_scales_fit_4_bit_weights_better_than_max(digits):
    # weight SQNR per layer: measured 19.6/20.7/19.2 dB (max) vs 20.2/21.3/19.5 dB (mse)
    sqnr = {}
    for method in ("max", "mse"):
        graph = quantized(digits, f"quantize{{weights=e2m1, acts=e4m3, minifloat_scale={method}}}")
        assert all(n.attrs["q.scale_method"] == method for n in weights(graph))
        sqnr[method] = [sqnr_db(n.meta["float_value"], n.attrs["value"].array) for n in weights(graph)]
    assert all(mse > best + 0.2 for mse, best in zip(sqnr["mse"], sqnr["max"])), sqnr


def test_a_layer_q_format_overrides_the_pass_format(digits):
    model, x_train, *_ = digits
    graph = import_module(model, torch.from_numpy(x_train[:4]), dynamic_batch=True)
    run_pipeline(graph, CALIBRATE, PassContext(calibration=x_train))
    fc = next(n for n in graph.nodes if n.op == "linear")
    fc.attrs["q.format"] = "e2m3"
    run_pipeline(graph, "quantize{weights=e4m3, acts=e4m3, granularity=tensor}", PassContext(calibration=x_train))
    assert fc.inputs[1].type.format == "e2m3" and fc.inputs[1].type.axis is None
    assert fc.inputs[0].type.format == "e2m3" and fc.inputs[0].type.finite


@pytest.mark.parametrize("options,message", [
    ("weights=e4m3, acts=u8", "minifloat and integer types do not mix"),
    ("weights=e4m3, minifloat_scale=kl", "minifloat_scale='kl' is not one of max, mse"),
    ("weights=e2m1, granularity=group:32", "granularity 'group:32': minifloat weights are scaled per tensor or channel"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(PipelineError, match=message):
        run_pipeline(None, f"quantize{{{options}}}", PassContext())
