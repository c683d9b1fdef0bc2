"""The PP-OCR recognizer ([N, 3, ?, W]) and direction classifier ([?, 3, ?, ?]) compiled
from their files keep their symbolic dims, and still every global average pool and every
matmul is integer: pools divide by the run-time count, the recognizer's softmax·V
products carry `max_terms`. At two widths, the Numba model runs and every integer layer
agrees with the fake-quant simulation within one step (end to end, one-step differences
compound through the network)."""
from pathlib import Path

import numpy as np
import pytest

import qcompiler
from qcompiler.analysis.agreement import integer_agreement
from qcompiler.runtime.reference import run_graph

rapidocr = pytest.importorskip("rapidocr_onnxruntime")
OCR = Path(rapidocr.__file__).parent / "models"
# file, calibration width, two other widths to run
MODELS = {"rec": ("ch_PP-OCRv4_rec_infer.onnx", 160, (96, 224)),
          "cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", 192, (120, 256))}


def line(width: int, seed: int) -> np.ndarray:
    """A 48-px text-like line (dark strokes on a light page), normalized like rapidocr."""
    rng = np.random.default_rng(seed)
    page = np.full((48, width), 230.0)
    for _ in range(width // 16):
        r, c = rng.integers(4, 44), rng.integers(2, width - 14)
        page[r - 2:r + 2, c:c + rng.integers(4, 12)] = rng.uniform(0, 60)
    return np.repeat(((page / 255.0 - 0.5) / 0.5)[None, None], 3, axis=1).astype(np.float32)


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    name, calibration_width, widths = MODELS[request.param]
    cm = qcompiler.compile(str(OCR / name), calibration=line(calibration_width, 0), progress=False)
    return request.param, cm, widths


def test_no_global_pool_or_matmul_stays_float(model):
    kind, cm, _ = model
    assert all(isinstance(d, str) for d in np.array(cm.graph.inputs[0].type.shape)[[0, 3]])
    floats = {n.op: n.attrs.get("q.float") for n in cm.graph.nodes if n.op in ("global_avg_pool", "matmul")}
    assert not floats, floats  # the report's float layers are these nodes
    counts = cm.graph.op_counts()
    pools = [n for n in cm.graph.nodes if n.op == "qglobal_avg_pool"]
    assert pools and all(n.attrs["runtime_count"] for n in pools)
    bounded = [n.attrs["max_terms"] for n in cm.graph.nodes if n.op == "qmatmul" and n.attrs.get("max_terms")]
    assert (len(pools), len(bounded)) == ({"rec": 2, "cls": 10}[kind], {"rec": 2, "cls": 0}[kind]), counts
    assert all(k >= 40_000 for k in bounded)  # u8 probabilities times 8-bit values: far beyond any line


def test_runs_at_two_widths_within_one_step_of_the_simulation(model):
    kind, cm, widths = model
    for k, width in enumerate(widths):
        x = line(width, k + 1)
        ours = cm(x)
        simulated = run_graph(cm.fake_quant_graph, [x])[0]
        assert ours.shape == simulated.shape
        agreement = integer_agreement(cm.graph, cm.fake_quant_graph, [x])
        checked = {a.op for a in agreement}
        assert {"qglobal_avg_pool"} <= checked and (kind == "cls" or "qmatmul" in checked)
        assert max(a.max_steps for a in agreement) <= 1, [a for a in agreement if a.max_steps > 1]
        assert sum(a.differing for a in agreement) <= 0.005 * sum(a.elements for a in agreement)
