"""Faithfulness of the ONNX import on the real PP-OCR models shipped with
rapidocr_onnxruntime (text detection, direction classification, recognition): the
imported graph, run by the numpy reference interpreter on a rendered text image, matches
onnxruntime on the original model; the models import with dynamic dims; the text form
round-trips."""
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import rapidocr_onnxruntime

from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir.equality import graph_diff
from qcompiler.ir.parser import parse
from qcompiler.ir.printer import print_graph
from qcompiler.ir.serialize import load_qir, save_qir
from qcompiler.runtime.reference import run_graph

MODELS = Path(rapidocr_onnxruntime.__file__).parent / "models"
FILES = {"det": "ch_PP-OCRv4_det_infer.onnx", "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
         "rec": "ch_PP-OCRv4_rec_infer.onnx"}
# input sizes (N, H, W): small to keep the test fast; det needs multiples of 32, cls and
# rec take 48-pixel-high text lines (rapidocr's cls_image_shape / rec_img_shape)
SIZES = {"det": [(1, 96, 96), (1, 64, 128)], "cls": [(1, 48, 192), (2, 48, 192)], "rec": [(1, 48, 160), (2, 48, 96)]}
# ONNX ops of these models that have no catalog op and stay opaque: none today; a new
# entry here must come with a reason
EXPECTED_OPAQUE = {"det": set(), "cls": set(), "rec": set()}
TOLERANCE = 1e-4  # max |ours - ort| / max |ort|


def text_image(n: int, h: int, w: int) -> np.ndarray:
    """Dark text on a light page, normalized like rapidocr: (x / 255 - 0.5) / 0.5, NCHW."""
    batch = []
    for i in range(n):
        img = np.full((h, w, 3), 232 - 10 * i, np.uint8)
        cv2.putText(img, "Hello 42"[i:], (2, h // 2 + 8), cv2.FONT_HERSHEY_SIMPLEX, h / 60, (25, 25, 25), 2)
        cv2.putText(img, "qc", (w // 2, h - 4), cv2.FONT_HERSHEY_PLAIN, 1.0, (60, 40, 40), 1)
        batch.append(img.astype(np.float32).transpose(2, 0, 1))
    return (np.stack(batch) / 255.0 - 0.5) / 0.5


@pytest.fixture(scope="module")
def imported():
    cache = {}

    def get(key):
        if key not in cache:
            cache[key] = import_onnx(MODELS / FILES[key], report=True)
        return cache[key]

    return get


@pytest.fixture(scope="module")
def onnxruntime_session():
    cache = {}

    def get(key):
        if key not in cache:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            cache[key] = ort.InferenceSession(str(MODELS / FILES[key]), options, providers=["CPUExecutionProvider"])
        return cache[key]

    return get


@pytest.mark.parametrize("key,size", [(k, s) for k, sizes in SIZES.items() for s in sizes])
def test_reference_interpreter_matches_onnxruntime(imported, onnxruntime_session, key, size):
    graph, _ = imported(key)
    x = text_image(*size).astype(np.float32)
    (ours,) = run_graph(graph, [x])
    (ref,) = onnxruntime_session(key).run(None, {"x": x})
    assert ours.shape == ref.shape
    assert np.abs(ref).max() > 0.1  # the input is text-like enough to excite the model
    assert np.abs(ours - ref).max() / np.abs(ref).max() <= TOLERANCE


@pytest.mark.parametrize("key", FILES)
def test_opaque_ops_are_the_documented_ones(imported, key):
    graph, report = imported(key)
    assert {r.op for r in report} == EXPECTED_OPAQUE[key]
    assert {n.op for n in graph.nodes if n.op.startswith("onnx.")} == EXPECTED_OPAQUE[key]


@pytest.mark.parametrize("key", FILES)
def test_imports_with_dynamic_dims_and_named_weights(imported, key):
    graph, _ = imported(key)
    (x,) = graph.inputs
    assert x.type.shape[1] == 3 and all(isinstance(d, str) for d in x.type.shape[2:])
    assert graph.opset_imports[""] in (11, 12)
    weights = [n for n in graph.nodes if n.op == "const" and n.output.type.rank == 4]
    assert weights and all(n.attrs.get("origin") for n in weights)


@pytest.mark.parametrize("key", FILES)
def test_text_form_round_trips(imported, key):
    graph, _ = imported(key)
    blobs = []
    text = print_graph(graph, blobs)
    assert blobs  # the weights go to blobs, not into the text
    assert graph_diff(graph, parse(text, blobs)) is None


def test_qir_files_round_trip_and_still_run(imported, tmp_path):
    graph, _ = imported("cls")
    save_qir(graph, tmp_path / "cls.qir")
    loaded = load_qir(tmp_path / "cls.qir")
    assert graph_diff(graph, loaded) is None
    x = text_image(1, 48, 192).astype(np.float32)
    np.testing.assert_array_equal(run_graph(loaded, [x])[0], run_graph(graph, [x])[0])
