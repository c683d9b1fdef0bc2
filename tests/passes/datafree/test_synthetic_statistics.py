"""Synthetic samples match the BatchNorm statistics of the digits CNN (far better than
noise, about as well as real digits) and come out the same for the same seed."""
import numpy as np
import pytest
import torch

from qcompiler.passes.datafree import DataFreeError, SyntheticCalibration, statistics_loss
from qcompiler.passes.datafree.cgan import CGANOptions
from qcompiler.passes.datafree.probe import FloatProbe
from qcompiler.passes.datafree.zeroq import ZeroQOptions


def _loss(graph, x: np.ndarray) -> float:
    probe = FloatProbe(graph)
    with torch.no_grad():
        return float(statistics_loss(probe(torch.from_numpy(x))[1], probe.targets))


def _samples(graph, generator="zeroq", samples=32, seed=0, options=None) -> np.ndarray:
    source = SyntheticCalibration(graph, generator, samples, seed, options=options)
    return source.calibration_arrays(graph)[graph.inputs[0].name]


@pytest.fixture(scope="module")
def noise_loss(digits_graph):
    return _loss(digits_graph, np.random.default_rng(0).standard_normal((32, 1, 8, 8)).astype(np.float32))


def test_distilled_data_matches_the_statistics_better_than_noise(digits_graph, digits_split, noise_loss):
    synthetic = _samples(digits_graph, options=ZeroQOptions(steps=150))
    assert synthetic.shape == (32, 1, 8, 8) and synthetic.dtype == np.float32
    real = _loss(digits_graph, digits_split[0][:32].numpy())
    assert noise_loss > 1.0
    assert _loss(digits_graph, synthetic) < min(0.01, 2 * real)


def test_conditional_generator_matches_the_statistics_and_covers_every_class(digits_graph, noise_loss):
    synthetic = _samples(digits_graph, "cgan", samples=100, options=CGANOptions(steps=200, width=16))
    assert _loss(digits_graph, synthetic) < noise_loss / 20
    # labels are drawn class-balanced and the generator learns the model's class for each
    logits = FloatProbe(digits_graph, with_logits=True)(torch.from_numpy(synthetic))[0]
    assert np.bincount(logits.argmax(1).numpy(), minlength=10).min() >= 4


def test_same_seed_same_samples(digits_graph):
    options = ZeroQOptions(steps=10)
    first, again = (_samples(digits_graph, samples=8, options=options) for _ in range(2))
    other = _samples(digits_graph, samples=8, seed=1, options=options)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_cgan_refuses_a_model_without_class_outputs(digits_graph):
    from qcompiler.ir.clone import clone

    headless = clone(digits_graph)
    relu = next(n for n in reversed(headless.nodes) if n.op == "relu")
    headless.set_outputs([relu.output])  # a feature map [N, C, H, W], no classes
    with pytest.raises(DataFreeError, match="needs a classifier"):
        _samples(headless, "cgan", options=CGANOptions(steps=1))


def test_open_dims_need_example_inputs():
    from qcompiler.ir.parser import parse

    graph = parse("""graph @g(%x: f32[N,1,4,W]) -> (f32[N,1,4,W]) {
  %g1 = const() {value=dense<[1.0]> : f32[1]} : f32[1]
  %b0 = const() {value=dense<[0.0]> : f32[1]} : f32[1]
  %bn = batch_norm(%x, %g1, %b0, %b0, %g1) : f32[N,1,4,W]
  return %bn
}""")
    with pytest.raises(DataFreeError, match="symbolic dim 3"):
        SyntheticCalibration(graph, samples=2).calibration_arrays(graph)
    made = SyntheticCalibration(graph, samples=2, example_inputs=np.zeros((1, 1, 4, 6)),
                                options=ZeroQOptions(steps=2)).calibration_arrays(graph)
    assert made["x"].shape == (2, 1, 4, 6)


def test_distilled_inputs_take_the_statistics_a_single_batch_norm_asks_for():
    """x -> conv(w=[1, -2]) -> batch_norm(mean=[3, -6], var=[1, 4]): the only inputs that fit
    have mean 3 and std 1."""
    from pathlib import Path

    from qcompiler.ir.parser import parse

    graph = parse((Path(__file__).parent / "calibrate_synthetic.qir").read_text())
    x = SyntheticCalibration(graph, samples=32).calibration_arrays(graph)["x"]
    assert abs(x.mean() - 3.0) < 0.02 and abs(x.std() - 1.0) < 0.02


def test_long_runs_report_progress(digits_graph):
    class Recorder:
        def __init__(self):
            self.bars = []

        def iterate(self, iterable, desc="", total=None):
            self.bars.append((desc, total))
            return iterable

    progress = Recorder()
    SyntheticCalibration(digits_graph, samples=6, progress=progress,
                         options=ZeroQOptions(steps=3, batch=4)).calibration_arrays(digits_graph)
    SyntheticCalibration(digits_graph, "cgan", samples=4, progress=progress,
                         options=CGANOptions(steps=2, width=8)).calibration_arrays(digits_graph)
    assert progress.bars == [("zeroq samples 0-4", 3), ("zeroq samples 4-6", 3), ("cgan generator", 2)]
