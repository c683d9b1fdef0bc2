"""clip-search (output-aware clipping): a two-layer case where the range that is best for
the activation itself (layer-local MSE) is far from best for the next layer's output."""
import numpy as np
import pytest

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassContext, PassError, PassManager, PipelineError
from qcompiler.runtime.torch import run_torch

MSE = "calibrate{method=mse},quantize"
OUTPUT_AWARE = "calibrate{method=mse},clip-search{methods=[percentile],percentile=98.0,depth=1},quantize"


def ignored_channel_graph() -> tuple:
    """x[8] -> h = linear(w1) [16] -> y = linear(w2) [4], and (w1, w2). Channel 15 of h is
    30x wider than the others and y ignores it (its column of w2 is zero, as after a
    pruned channel): clipping it costs h a lot and y nothing, while the range it sets
    decides the resolution of every channel y reads."""
    rng = np.random.default_rng(0)
    w1 = (rng.normal(size=(16, 8)) / np.sqrt(8)).astype(np.float32)
    w1[15] *= 30.0
    w2 = rng.normal(size=(4, 16)).astype(np.float32)
    w2[:, 15] = 0.0
    g = Graph("two_layers")
    x = g.add_input("x", f32("N", 8))
    h = g.add("linear", [x, g.constant(w1, name="w1", origin="fc1.weight")], name="h").output
    y = g.add("linear", [h, g.constant(w2, name="w2", origin="fc2.weight")], name="y").output
    g.set_outputs([y])
    return g, w1, w2


def quantized(pipeline: str, data: np.ndarray) -> Graph:
    g, _, _ = ignored_channel_graph()
    PassManager(pipeline).run(g, PassContext(target="generic", calibration=data))
    return g


def relative_errors(pipeline: str, calibration: np.ndarray, x: np.ndarray) -> tuple:
    """(error of y, error of h): ‖q − f‖² / ‖f‖² on `x`."""
    _, w1, w2 = ignored_channel_graph()
    h = x @ w1.T
    g = quantized(pipeline, calibration)
    values = {v.name: v for v in g.values()}
    g.set_outputs([values["y"], values["h"]])  # h, fake-quantized as produced
    y_q, h_q = run_torch(g, [x])
    return tuple(float(((q - f) ** 2).sum() / (f ** 2).sum()) for q, f in ((y_q, h @ w2.T), (h_q, h)))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(256, 8)).astype(np.float32), rng.normal(size=(512, 8)).astype(np.float32)


def test_output_aware_clipping_beats_layer_local_mse_on_the_output(data):
    calibration, test = data
    y_mse, h_mse = relative_errors(MSE, calibration, test)
    y_out, h_out = relative_errors(OUTPUT_AWARE, calibration, test)
    assert h_mse < h_out / 10       # for h itself, MSE's wide range is far better...
    assert y_out < y_mse / 10       # ...and far worse for the output, which ignores the wide channel
    g = quantized(OUTPUT_AWARE, calibration)
    h = next(n for n in g.nodes if n.outputs[0].name == "h")
    assert h.attrs["q.method"] == "percentile" and h.attrs["q.clip"] == "output"


def test_the_calibrated_range_stays_unless_a_candidate_is_strictly_better(data):
    calibration, _ = data
    g = quantized("calibrate{method=minmax},clip-search{methods=[minmax]},quantize", calibration)
    assert not any("q.clip" in n.attrs for n in g.nodes)
    wide = quantized("calibrate{method=percentile,percentile=98.0},clip-search{methods=[mse],depth=1},quantize",
                     calibration)
    h = next(n for n in wide.nodes if n.outputs[0].name == "h")
    assert h.attrs["q.method"] == "percentile" and "q.clip" not in h.attrs


def test_clip_search_errors_name_what_is_missing(data):
    calibration, _ = data
    with pytest.raises(PipelineError, match="methods must be some of"):
        PassManager("clip-search{methods=[entropy]}")
    with pytest.raises(PassError, match="run calibrate before it"):
        quantized("clip-search,quantize", calibration)
    g, _, _ = ignored_channel_graph()
    PassManager("calibrate").run(g, PassContext(calibration=calibration))
    with pytest.raises(PassError, match="clip-search needs calibration data"):
        PassManager("clip-search").run(g, PassContext())
