"""The nine CNNs of onnx's light zoo (seeded random weights, qcompiler/testing/light_zoo.py)
compile for x86-vnni and armv8 with every op in the catalog, and their QDQ and QOperator
exports run in onnxruntime under the source model's input and output names.

Budget: each (model, target) compiles once, with min/max calibration on two images (the
targets' default mse search takes minutes on AlexNet's and VGG's fully connected
layers); VGG19 (143M parameters) runs for x86-vnni only (`python bench/light_zoo.py
--target armv8` covers it). Numbers are compared on the
logits the last softmax reads: with random weights a peaked softmax turns small logit
errors into large probability errors for every quantizer (bench/RESULTS.md, light zoo).
The floor is low: two calibration images leave the ranges narrow, and in these deep
random networks the image-dependent part of the last features is small, so int8 keeps
little of it for any quantizer (ResNet50: about 1 dB on this image, 4 dB for qcompiler
and onnxruntime alike in the benchmark). It still fails a wrong layer (0 dB or less).
The exports must compute what the compiled model computes, up to a logit step here and
there."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import qcompiler
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.targets import get_target
from qcompiler.testing.light_zoo import LIGHT_ZOO, compiled_logits, light_images, light_model, with_logits_output

TARGETS = ("x86-vnni", "armv8")
CASES = [(name, target) for name in LIGHT_ZOO for target in TARGETS if name != "vgg19" or target == "x86-vnni"]
MIN_LOGITS_SQNR_DB = 0.5
MIN_EXPORT_AGREEMENT_DB = 15.0


def _session(model) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def images():
    return light_images(2, seed=1), light_images(1, seed=2)


@pytest.mark.parametrize("name, target", CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_light_zoo_model_compiles_and_exports(name, target, images, tmp_path):
    calibration, x = images
    model = light_model(name)
    source_in, source_out = model.graph.input[0].name, model.graph.output[0].name
    probed, logits = with_logits_output(model)
    fp32 = _session(probed).run([logits], {source_in: x})[0]

    pipeline = get_target(target).default_pipeline.replace("calibrate{method=mse}", "calibrate{method=minmax}")
    cm = qcompiler.compile(model, target=target, calibration=calibration, pipeline=pipeline, progress=False,
                           dynamic_batch=False)
    assert not [n.op for n in cm.graph.nodes if n.op.startswith("onnx.")], "every op is in the catalog"
    assert "mul" not in {n.op for n in cm.graph.nodes}, "per-channel scales folded into convs or batch norms"
    assert not [n for n in cm.graph.nodes if n.op == "batch_norm" and n.inputs[0].producer.op.endswith("conv2d")]
    assert cm({source_in: x}).shape == cm(x).shape
    ours = compiled_logits(cm, x).reshape(fp32.shape)
    assert sqnr_db(fp32, ours) > MIN_LOGITS_SQNR_DB

    for form in ("qdq", "qoperator"):
        path = cm.export_onnx(tmp_path / f"{form}.onnx", form=form)
        exported = onnx.load(path)
        assert [v.name for v in exported.graph.input] == [source_in]
        assert [v.name for v in exported.graph.output] == [source_out]
        session = _session(with_logits_output(exported)[0])
        output, got = session.run([source_out, with_logits_output(exported)[1]], {source_in: x})
        assert output.shape == tuple(d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim)
        # the export computes what the compiled model does, up to a rounding step here and
        # there (QOperator requantizes in float; QDQ is the simulation before lowering)
        assert sqnr_db(ours, got.reshape(ours.shape)) > MIN_EXPORT_AGREEMENT_DB, form
