"""Float export of whole models: the three PP-OCR models shipped with rapidocr_onnxruntime
imported and exported again run in onnxruntime like the originals; torch models imported
with the fx frontend and exported run like torch."""
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import rapidocr_onnxruntime
import torch

from qcompiler.backends.onnx import export
from qcompiler.frontends.fx import import_module
from qcompiler.frontends.onnx import import_onnx
from qcompiler.testing import zoo

from onnx_export_helpers import run_onnx, session

MODELS = Path(rapidocr_onnxruntime.__file__).parent / "models"
# (file, input size N, C, H, W): det needs multiples of 32, cls and rec 48-pixel lines
OCR = {"det": ("ch_PP-OCRv4_det_infer.onnx", (1, 3, 64, 96)),
       "cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", (2, 3, 48, 192)),
       "rec": ("ch_PP-OCRv4_rec_infer.onnx", (1, 3, 48, 160))}


def text_like(shape) -> np.ndarray:
    """Dark text on light pages, normalized like rapidocr feeds its models."""
    n, _, h, w = shape
    pages = []
    for i in range(n):
        page = np.full((h, w, 3), 230 - 20 * i, np.uint8)
        cv2.putText(page, "Export 7"[i:], (2, h // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, h / 64, (20, 30, 20), 2)
        pages.append(page.transpose(2, 0, 1))
    return ((np.stack(pages) / 255.0 - 0.5) / 0.5).astype(np.float32)


@pytest.mark.parametrize("key", OCR)
def test_ocr_models_round_trip(key, tmp_path):
    file, shape = OCR[key]
    original = onnx.load(MODELS / file)
    graph = import_onnx(MODELS / file)
    model = export(graph, tmp_path / "out.onnx")
    assert onnx.load(tmp_path / "out.onnx") == model
    assert model.opset_import[0].version == original.opset_import[0].version
    # weights keep their ONNX names
    assert {i.name for i in original.graph.initializer if len(i.dims) == 4} <= {i.name for i in model.graph.initializer}
    x = text_like(shape)
    (expected,) = session(original).run(None, {"x": x})
    (got,) = run_onnx(model, {"x": x}).values()
    assert got.shape == expected.shape and np.abs(expected).max() > 0.1
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()


def test_dynamic_dims_stay_dim_params():
    graph = import_onnx(MODELS / OCR["cls"][0])
    model = export(graph, "/dev/null")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == 3 and not any(d.HasField("dim_value") for d in (dims[0], dims[2], dims[3]))
    # the same model runs at two sizes
    for shape in [(1, 3, 48, 100), (3, 3, 48, 192)]:
        assert next(iter(run_onnx(model, {"x": text_like(shape)}).values())).shape == (shape[0], 2)


TORCH_MODELS = {
    "mobilenet_blocks": zoo.mobilenet_v2_blocks,
    "transformer_encoder": zoo.transformer_encoder,
    "digits_cnn": lambda: (zoo.train_digits_cnn(epochs=2), (zoo.digits_data()[2][:8],)),
}


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_models_match_torch(name, tmp_path):
    torch.set_num_threads(1)
    module, examples = TORCH_MODELS[name]()
    graph = import_module(module, examples)
    model = export(graph, tmp_path / f"{name}.onnx")
    with torch.no_grad():
        expected = module(*examples).numpy()
    (got,) = run_onnx(model, {v.name: x.numpy() for v, x in zip(graph.inputs, examples)}).values()
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
