"""The three PP-OCR models shipped with rapidocr_onnxruntime (text detection, direction
classification, recognition) compile with every target's default pipeline, and the
compiled models agree with the float ones on rendered text.

Cost: every target's default pipeline runs the same passes up to calibrate and the
targets agree on the only target properties calibration reads (weight and activation
symmetry; checked below), so each model is imported and calibrated once and the rest of
each target's pipeline runs from a copy of that graph (the same passes on the same graph as
`qcompiler.compile(path, target=...)`). Numba runs two targets per model.
"""
from pathlib import Path

import numpy as np
import pytest

import qcompiler
from qcompiler.model.loading import load_model
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.targets import available_targets, get_target

rapidocr = pytest.importorskip("rapidocr_onnxruntime")
PIL = pytest.importorskip("PIL")
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

pytestmark = pytest.mark.slow

MODELS = Path(rapidocr.__file__).parent / "models"
FILES = {"det": "ch_PP-OCRv4_det_infer.onnx", "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
         "rec": "ch_PP-OCRv4_rec_infer.onnx"}
# (samples, height, width, lines of text): small inputs, enough samples for stable ranges
# (rec: 3 lines, ~26 read frames; with 2 (~17 frames) one frame moved agreement by 0.06)
DATA = {"det": (6, 64, 96, 3), "cls": (4, 48, 192, 1), "rec": (3, 48, 320, 1)}
TARGETS = sorted(available_targets())
RUN_ON = ("generic", "x86-avx2")  # one target per rounding mode / reduce-range rule
CALIBRATE = "calibrate{method=mse},"
ALPHABET = "ABCDEFGHKLMNPRSTUWXYZabcdefghkmnprstuwxyz0123456789"


def text_images(n: int, h: int, w: int, lines: int, seed: int) -> np.ndarray:
    """n images of black random strings on white, normalized as PP-OCR expects ([-1, 1])."""
    rng = np.random.default_rng(seed)
    size = max(8, int(h / lines * 0.6))
    font = ImageFont.load_default(size=size)
    images = []
    for _ in range(n):
        img = Image.new("RGB", (w, h), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        for k in range(lines):
            text = "".join(rng.choice(list(ALPHABET), size=int(rng.integers(4, 12))))
            top = k * h / lines + rng.integers(0, max(1, int(h / lines - size * 1.2)))
            draw.text((int(rng.integers(2, 8)), int(top)), text, fill=(0, 0, 0), font=font)
        images.append(np.asarray(img, np.float32) / 255)
    return ((np.stack(images).transpose(0, 3, 1, 2) - 0.5) / 0.5).astype(np.float32)


def test_targets_share_the_calibration_this_file_reuses():
    prefixes = {get_target(t).default_pipeline.partition(CALIBRATE)[:2] for t in TARGETS}
    symmetry = {(get_target(t).weight_symmetric, get_target(t).activation_symmetric) for t in TARGETS}
    assert len(prefixes) == 1 and next(iter(prefixes))[1] == CALIBRATE and len(symmetry) == 1


@pytest.fixture(scope="module")
def calibrated():
    """model -> (calibration data, float graph after the default pipeline's calibrate)."""
    out = {}
    prefix = "".join(get_target("generic").default_pipeline.partition(CALIBRATE)[:2])[:-1]
    for model, (n, h, w, lines) in DATA.items():
        x = text_images(n, h, w, lines, seed=len(out))
        graph = load_model(str(MODELS / FILES[model]), x[:1], dynamic_batch=True)
        run_pipeline(graph, prefix, PassContext(target="generic", calibration=x))
        out[model] = x, graph
    return out


@pytest.fixture(scope="module")
def compiled(calibrated):
    """(model, target) -> CompiledModel, every pair compiled once."""
    return {(model, target): qcompiler.compile(graph, target=target, calibration=x, progress=False,
                                               pipeline=get_target(target).default_pipeline.partition(CALIBRATE)[2])
            for model, (x, graph) in calibrated.items() for target in TARGETS}


@pytest.mark.parametrize("model", sorted(FILES))
def test_every_target_lowers_every_conv_to_integers(compiled, model):
    for target in TARGETS:
        graph = compiled[model, target].graph
        counts = graph.op_counts()
        assert counts.get("qconv2d", 0) >= 20 and "conv2d" not in counts, (target, counts)
        for node in graph.nodes:
            if node.op == "qconv2d" and len(node.inputs) > 2:
                bias = graph.const_value(node.inputs[2])
                assert np.abs(bias.astype(np.int64)).max() < 2**31 - 1, (target, node.label())


def _agreement(model: str, reference: np.ndarray, y: np.ndarray) -> float:
    """What each model is used for: text pixels (det: p > 0.3, as IoU), the class (cls),
    the characters (rec: the steps where the float model reads one, not CTC blank 0)."""
    if model == "det":
        a, b = reference > 0.3, y > 0.3
        return (a & b).sum() / max((a | b).sum(), 1)
    same = reference.argmax(-1) == y.argmax(-1)
    return float(same[reference.argmax(-1) != 0].mean() if model == "rec" else same.mean())


@pytest.mark.parametrize("target", RUN_ON)
@pytest.mark.parametrize("model", sorted(FILES))
def test_compiled_model_runs_and_agrees_with_the_float_model(calibrated, compiled, model, target):
    x, _ = calibrated[model]
    cm = compiled[model, target]
    y = cm(x)
    reference = run_graph(cm.float_graph, [x])[0]
    assert y.shape == reference.shape
    agreement, sqnr = _agreement(model, reference, y), sqnr_db(reference, y)
    # measured: det 0.94-0.97, cls 1.0, rec 0.85-1.0; SQNR 9.7-41 dB (x86-avx2 lowest: 7-bit weights)
    assert agreement >= {"det": 0.8, "cls": 1.0, "rec": 0.7}[model] and sqnr > 8.0, (agreement, sqnr)
