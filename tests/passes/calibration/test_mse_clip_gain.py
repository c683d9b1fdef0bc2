"""mse keeps an activation's clip only where it gains enough (calibrate{clip_gain_db}):
per activation, the default picks whichever of the clipped and the min/max range is
better for the output, in two cases where plain mse and plain min/max each lose once."""
import numpy as np
import pytest

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassContext, PassManager, PipelineError
from qcompiler.runtime.reference import run_graph

# weights get mse ranges in all three, so only the activation ranges differ
DEFAULT = "calibrate{method=mse}"
PLAIN_MSE = "calibrate{method=mse,clip_gain_db=0}"
MINMAX = "calibrate{method=minmax,weight_method=mse}"
FEATURES = 64


def two_layers(readout: np.ndarray, relu: bool) -> Graph:
    """x[64] -> h = linear(w1) (-> relu) -> y = linear(readout)."""
    rng = np.random.default_rng(0)
    g = Graph("two_layers")
    x = g.add_input("x", f32("N", FEATURES))
    w1 = (rng.normal(size=(FEATURES, FEATURES)) / np.sqrt(FEATURES)).astype(np.float32)
    h = g.add("linear", [x, g.constant(w1, name="w1", origin="fc1.weight")], name="h").output
    if relu:
        h = g.add("relu", [h], name="r").output
    y = g.add("linear", [h, g.constant(readout.astype(np.float32), name="w2", origin="fc2.weight")], name="y").output
    g.set_outputs([y])
    return g


def output_error(graph_fn, calibrate: str, calibration: np.ndarray, test: np.ndarray) -> float:
    """‖y_q − y‖² / ‖y‖² on `test` of the model quantized after `calibrate`."""
    reference = run_graph(graph_fn(), [test])[0]
    g = graph_fn()
    PassManager(f"{calibrate},quantize").run(g, PassContext(target="x86-vnni", calibration=calibration))
    got = run_graph(g, [test])[0]
    return float(((got - reference) ** 2).sum() / (reference ** 2).sum())


def averaged_relu():
    """A ReLU layer read through its mean: the readout averages the independent rounding
    errors of 64 features away, but not the bias that clipping their largest values leaves."""
    return two_layers(np.full((1, FEATURES), 1.0 / FEATURES), relu=True)


def projected_input() -> Graph:
    """The input read feature by feature (a random projection to 8 outputs): the range
    in question is the input's."""
    g = Graph("projection")
    x = g.add_input("x", f32("N", FEATURES))
    w = np.random.default_rng(1).normal(size=(8, FEATURES)).astype(np.float32)
    g.set_outputs([g.add("linear", [x, g.constant(w, name="w", origin="fc.weight")], name="y").output])
    return g


def normal(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, FEATURES)).astype(np.float32)


def with_glitch(x: np.ndarray) -> np.ndarray:
    """One value in a million 60 standard deviations out: a tail min/max covers at the
    cost of every other value's resolution."""
    x = x.copy()
    x[7, 5] = 60.0
    return x


@pytest.mark.parametrize("case, graph_fn, calibration, better", [
    ("light tails, averaged", averaged_relu, normal(1024, 2), "minmax"),
    ("a rare outlier, projected", projected_input, with_glitch(normal(16384, 2)), "mse"),
])
def test_default_range_is_the_better_of_mse_and_minmax_at_the_output(case, graph_fn, calibration, better):
    test = normal(512, 3)
    errors = {name: output_error(graph_fn, pipeline, calibration, test)
              for name, pipeline in (("default", DEFAULT), ("mse", PLAIN_MSE), ("minmax", MINMAX))}
    worse = "mse" if better == "minmax" else "minmax"
    assert errors[better] < errors[worse] * 0.95, errors  # the case separates the two methods
    assert errors["default"] == pytest.approx(errors[better], rel=1e-6), errors


def test_clip_gain_needs_mse_and_is_not_negative():
    with pytest.raises(PipelineError, match="clip_gain_db=2 needs method=mse"):
        PassManager("calibrate{method=minmax,clip_gain_db=2}")
    with pytest.raises(PipelineError, match="clip_gain_db must be >= 0"):
        PassManager("calibrate{method=mse,clip_gain_db=-1}")
