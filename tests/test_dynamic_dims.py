"""Dynamic dims survive compilation: a model calibrated at one size runs at others, in
the Numba backend and in ONNX Runtime in every export form, and agrees with the
fake-quant simulation at that size.

Models: a hand-built ONNX model whose width W is symbolic (a strided conv, a resize, a
reshape to a target computed by Shape/Slice/Concat, attention over the width, a
flatten), and the PP-OCR recognizer ([N, 3, 48, W], attention over W/8) and detector
([N, 3, H, W]) shipped with rapidocr_onnxruntime. The integer kernels are checked layer
by layer against the simulation (end to end, one-step differences compound through a
deep network); the exports against the graph each is written from.
"""
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper

import qcompiler
from qcompiler.analysis.agreement import integer_agreement
from qcompiler.backends.onnx.export import to_onnx
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.cpu import has_vnni
from qcompiler.testing.onnx_models import floats, ints, make_model, tensor

rapidocr = pytest.importorskip("rapidocr_onnxruntime")
OCR = Path(rapidocr.__file__).parent / "models"
FORMS = ("float", "qdq", "qoperator", "integer")
needs_exact_u8s8 = pytest.mark.skipif(not has_vnni(), reason="ONNX Runtime's u8 x s8 pair sums saturate on this "
                                                             "x86 CPU (no VNNI)")


def line_model():
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Resize", ["r", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("Shape", ["up"], ["s"]),
        helper.make_node("Slice", ["s", "zero", "one"], ["n"]),
        helper.make_node("Slice", ["s", "three", "four"], ["w"]),
        helper.make_node("Concat", ["n", "c32", "w"], ["target"], axis=0),
        helper.make_node("Reshape", ["up", "target"], ["cols"]),              # [N, 32, W']
        helper.make_node("Transpose", ["cols"], ["seq"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["seq", "qw"], ["q"]),
        helper.make_node("Transpose", ["q"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"]),                  # [N, W', W']
        helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "q"], ["attn"]),
        helper.make_node("Flatten", ["attn"], ["y"], axis=1),                 # [N, 16 W']
    ]
    inits = [floats("cw", rng.normal(0, 0.3, (8, 3, 3, 3))), floats("cb", rng.normal(0, 0.1, 8)),
             floats("scales", [1, 1, 1, 2]), ints("zero", [0]), ints("one", [1]), ints("three", [3]),
             ints("four", [4]), ints("c32", [32]), floats("qw", rng.normal(0, 0.2, (32, 16)))]
    return make_model(nodes, [tensor("x", ["N", 3, 8, "W"])], [tensor("y", ["N", None])], 13, inits=inits)


def strokes(h: int, w: int, seed: int) -> np.ndarray:
    """One text-like image (dark strokes on a light page), normalized like rapidocr."""
    rng = np.random.default_rng(seed)
    page = np.full((h, w), 230.0)
    for _ in range(w // 16):
        r, c = rng.integers(4, h - 4), rng.integers(2, w - 14)
        page[r - 2:r + 2, c:c + rng.integers(4, 12)] = rng.uniform(0, 60)
    return np.repeat(((page / 255.0 - 0.5) / 0.5)[None, None], 3, axis=1).astype(np.float32)


def _session(model) -> ort.InferenceSession:
    """A one-thread session of an ONNX file or ModelProto."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    data = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _sessions(cm) -> dict:
    """Each export form, written from the graph CompiledModel.export_onnx writes it from
    (the float form from the float graph)."""
    sources = {"float": cm.float_graph, "qdq": cm.fake_quant_graph, "qoperator": cm.graph, "integer": cm.graph}
    return {form: _session(to_onnx(g, form)) for form, g in sources.items()}


@pytest.fixture(scope="module")
def line():
    model = line_model()
    calibration = np.random.default_rng(1).normal(size=(4, 3, 8, 16)).astype(np.float32)
    cm = qcompiler.compile(model, calibration=calibration, progress=False)
    return model, cm, _sessions(cm)


@pytest.fixture(scope="module")
def rec():
    cm = qcompiler.compile(str(OCR / "ch_PP-OCRv4_rec_infer.onnx"), calibration=strokes(48, 320, 0), progress=False)
    return cm, _sessions(cm)


@pytest.fixture(scope="module")
def det():
    cm = qcompiler.compile(str(OCR / "ch_PP-OCRv4_det_infer.onnx"), calibration=strokes(64, 96, 0), progress=False)
    return cm, _sessions(cm)


def _run(session, x) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _check_layers(cm, x) -> None:
    """Every integer layer within one step of the simulation, and exact almost everywhere."""
    agreement = integer_agreement(cm.graph, cm.fake_quant_graph, [x])
    assert max(a.max_steps for a in agreement) <= 1
    assert sum(a.differing for a in agreement) <= 0.005 * sum(a.elements for a in agreement)


def _check_runs(cm, sessions, source, x, mean: float, layers: bool = True, qdq_mean: float = None) -> np.ndarray:
    """Numba and each export form at the size of `x`, against the graph each comes from
    (the float export against the source model), within `mean` (`qdq_mean` for the QDQ
    form, whose convolutions onnxruntime sums in float in another order than numpy);
    returns the Numba result."""
    simulated = run_graph(cm.fake_quant_graph, [x])[0]
    ours = cm(x)
    if layers:
        _check_layers(cm, x)
    expected = {"float": _run(source, x), "qdq": simulated, "qoperator": ours, "integer": ours}
    results = {"numba": (ours, simulated), **{form: (_run(sessions[form], x), expected[form]) for form in FORMS}}
    for what, (got, want) in results.items():
        assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
        bound = {"float": 1e-4, "qdq": qdq_mean or mean}.get(what, mean)
        assert np.abs(got - want).mean() <= bound, f"{what}: mean difference {np.abs(got - want).mean():.2e}"
    return ours


def test_symbolic_dims_of_the_source_stay_symbolic_in_every_export(line, rec, det):
    """The rec file declares [N, 3, ?, W] and det [N, 3, H, W]: all but the channels stay
    open in the compiled graph and in every exported model, whatever size calibrated them."""
    assert line[1].graph.inputs[0].type.shape == ("N", 3, 8, "W")
    for cm, sessions in (line[1:], rec, det):
        dims = cm.graph.inputs[0].type.shape
        assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[3])), dims
        for form, session in sessions.items():
            exported = session.get_inputs()[0].shape
            assert [isinstance(d, int) for d in exported] == [isinstance(d, int) for d in dims], (form, exported)
    # the detector's map is [N, 1, ?, ?]: its unknown height and width are not one named size
    assert [type(d) for d in det[1]["integer"].get_outputs()[0].shape[2:]] == [type(None)] * 2


@needs_exact_u8s8
@pytest.mark.parametrize("width", [16, 20, 40])
def test_a_reshape_computed_from_the_width_follows_it(line, width):
    """Calibrated at width 16; the projection and the attention are integer, the product
    over the width bounded at run time (max_terms); both executors and the Numba
    backend run it at every width."""
    model, cm, sessions = line
    # the projection by a constant matrix is a linear since canonicalize's matmul-to-linear
    assert [n.op for n in cm.graph.nodes if n.op in ("qlinear", "qmatmul")] == ["qlinear", "qmatmul", "qmatmul"]
    assert [n.attrs.get("max_terms", 0) > 1000 for n in cm.graph.nodes if n.op == "qmatmul"] == [False, True]
    x = np.random.default_rng(width).normal(size=(1, 3, 8, width)).astype(np.float32)
    step = float(cm.graph.outputs[0].type.scale.array)
    ours = _check_runs(cm, sessions, _session(model), x, mean=step / 4)
    assert ours.shape == (1, 16 * width)
    for graph in (cm.float_graph, cm.fake_quant_graph):  # the torch executor too
        np.testing.assert_allclose(run_torch(graph, [x])[0], run_graph(graph, [x])[0], atol=step / 100)


@needs_exact_u8s8
def test_the_recognizer_reads_lines_of_any_width(rec):
    """Calibrated on one 48x320 line; 326 is no multiple of the strides, 800 makes the
    attention sequence 2.5 times longer than calibration saw."""
    cm, sessions = rec
    source = _session(OCR / "ch_PP-OCRv4_rec_infer.onnx")
    for k, width in enumerate((320, 326, 800)):
        x = strokes(48, width, k + 1)
        ours = _check_runs(cm, sessions, source, x, mean=1e-3, layers=width != 320)
        assert ours.shape == (1, -(-width // 8), 6625)


@needs_exact_u8s8
def test_the_detector_maps_pages_of_any_size(det):
    """Numba runs the simulation's integers but for a few residual-add roundings; in the
    QDQ form a product whose float sum lands within an ulp of a rounding boundary can go
    the other way, and the detector's 60 layers carry such a step to whole regions of
    its map (mean 1.5e-3 on the 64x96 page)."""
    cm, sessions = det
    source = _session(OCR / "ch_PP-OCRv4_det_infer.onnx")
    for k, (h, w) in enumerate(((64, 96), (96, 128), (64, 160))):
        ours = _check_runs(cm, sessions, source, strokes(h, w, k + 1), mean=1e-3, qdq_mean=3e-3)
        assert ours.shape == (1, 1, h, w)


def test_a_torch_model_compiles_with_a_dynamic_width():
    """compile(dynamic_dims=...) on a torch model: calibrated at width 16, the compiled
    model reads columns of any width (dynamic_batch keeps dim 0 free beside it)."""
    import torch
    import torch.nn as nn

    class Columns(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv, self.head = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Linear(32, 10)

        def forward(self, x):
            y = torch.relu(self.conv(x))                          # [N, 8, 4, W/2]
            return self.head(y.permute(0, 3, 1, 2).flatten(2))   # [N, W/2, 10]

    calibration = np.random.default_rng(0).normal(size=(8, 3, 8, 16)).astype(np.float32)
    cm = qcompiler.compile(Columns(), calibration=calibration, dynamic_dims={"x": {3: "W"}}, progress=False)
    assert cm.graph.inputs[0].type.shape == ("N", 3, 8, "W")
    assert {"qconv2d", "qlinear"} <= set(cm.graph.op_counts())
    for width in (16, 30):
        x = np.random.default_rng(width).normal(size=(2, 3, 8, width)).astype(np.float32)
        assert cm(x).shape == (2, width // 2, 10)
        _check_layers(cm, x)
