"""adaround on models: the digits CNN at 2-bit weights (W2A8) and the PP-OCR direction
classifier shipped with rapidocr at W4A8, against rounding to nearest."""
from pathlib import Path

import numpy as np
import pytest
import torch

from qcompiler.cli.demo import load_demo_model
from qcompiler.ir.verifier import verify
from qcompiler.model.loading import load_model
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.text_lines import stroke_lines
from qcompiler.testing.zoo import digits_data

pytestmark = pytest.mark.slow

PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=mse},"


def quantized(load, calibration, pipeline):
    graph = load()
    PassManager(PREPARE + pipeline).run(graph, PassContext(calibration=calibration))
    verify(graph)
    return graph


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    x_train, _, x_test, y_test = digits_data()
    calibration, x_test = x_train[:128].numpy(), x_test.numpy()

    def load():
        return load_model(load_demo_model(), torch.from_numpy(calibration[:1]), dynamic_batch=True)

    reference = run_torch(load(), [x_test])[0]
    outputs = {name: run_torch(quantized(load, calibration, "quantize{weights=i2}" + extra), [x_test])[0]
               for name, extra in [("nearest", ""), ("layer", ",adaround{iters=300,lr=0.03}"),
                                   ("block", ",adaround{iters=300,lr=0.03,scope=block,block_layers=2}")]}
    return reference, outputs, y_test.numpy()


@pytest.mark.parametrize("scope", ["layer", "block"])
def test_digits_w2a8_learned_rounding_beats_nearest(digits, scope):
    reference, outputs, labels = digits
    nearest, learned = outputs["nearest"], outputs[scope]
    # measured: 4.8 dB nearest, 15.9 (layer) / 16.6 (block); accuracy 95.3% -> 96.4 / 96.1%
    assert sqnr_db(reference, learned) > sqnr_db(reference, nearest) + 6
    assert (learned.argmax(1) == labels).mean() >= (nearest.argmax(1) == labels).mean()


rapidocr = pytest.importorskip("rapidocr_onnxruntime")
CLS = Path(rapidocr.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"


def test_ppocr_classifier_w4a8_output_error_drops():
    torch.set_num_threads(1)
    calibration, test = stroke_lines(8, seed=0), stroke_lines(16, seed=1)
    reference = run_torch(load_model(str(CLS)), [test])[0]
    nearest = quantized(lambda: load_model(str(CLS)), calibration, "quantize{weights=i4}")
    learned = quantized(lambda: load_model(str(CLS)), calibration,
                        "quantize{weights=i4},adaround{iters=15,lr=0.15,batch=8}")
    before = sqnr_db(reference, run_torch(nearest, [test])[0])
    after = sqnr_db(reference, run_torch(learned, [test])[0])
    # measured: about 5 dB with nearest rounding, 15 dB with adaround (15 steps per layer)
    assert after > before + 5, (before, after)
    assert all(nearest.find(v.name).type == v.type for v in learned.values())


def test_lowering_and_the_numba_backend_take_the_learned_integers_unchanged():
    import qcompiler

    torch.set_num_threads(1)
    x = digits_data()[2][:64].numpy()
    cm = qcompiler.compile(load_demo_model(), calibration=x, progress=False,
                           pipeline=PREPARE + "quantize{weights=i2},adaround{iters=50,lr=0.05},lower")
    assert any(n.attrs.get("q.adaround") == "layer" for n in cm.graph.nodes)
    fake_quant = run_torch(cm.fake_quant_graph, [x])[0]
    # integer kernels vs the fake-quant simulation: within a few output steps
    assert np.abs(cm(x) - fake_quant).max() < 4 * cm.graph.outputs[0].type.scale.array.max()
