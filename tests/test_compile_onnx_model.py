"""compile() on a real exported model: the PP-OCR direction classifier shipped with
rapidocr_onnxruntime (dynamic batch, a shape-computed reshape before its classifier)."""
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import qcompiler

rapidocr = pytest.importorskip("rapidocr_onnxruntime")
CLS = Path(rapidocr.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"


def test_classifier_compiles_for_armv8_and_agrees_with_onnxruntime():
    rng = np.random.default_rng(0)
    # text-like strokes on a light page, normalized like rapidocr: (x/255 - 0.5)/0.5
    page = np.full((6, 48, 192), 230.0)
    for i in range(6):
        for _ in range(12):
            r, c = rng.integers(8, 40), rng.integers(4, 180)
            page[i, r - 2:r + 2, c:c + rng.integers(4, 12)] = rng.uniform(0, 60)
    x = np.repeat(((page / 255.0 - 0.5) / 0.5)[:, None], 3, axis=1).astype(np.float32)
    cm = qcompiler.compile(str(CLS), target="armv8", example_inputs=x[:1], calibration=x, progress=False)
    ops = {n.op for n in cm.graph.nodes}
    assert "qconv2d" in ops and "conv2d" not in ops, "every conv runs in integers"
    ours = cm(x)
    ref = ort.InferenceSession(str(CLS), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    # probabilities of two classes: int8 (default mse calibration on 6 images) keeps them
    # close on average; a broken lowering or requantization gives differences near 0.5
    err = np.abs(ours - ref)
    assert err.mean() < 0.05 and err.max() < 0.25, (err.mean(), err.max())
