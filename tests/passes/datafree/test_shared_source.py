"""Every data-reading pass reads the synthetic source through calibration_batches: the
same samples, made once."""
import numpy as np

from qcompiler.ir.clone import clone
from qcompiler.passes.datafree import SyntheticCalibration
from qcompiler.passes.datafree.zeroq import ZeroQOptions
from qcompiler.passmanager import PassContext, PassManager


def _sensitivities(graph, calibration) -> list:
    work = clone(graph)
    PassManager("fold-bn,sensitivity{metric=sqnr,samples=8}").run(work, PassContext(calibration=calibration))
    return [n.attrs["q.sens"] for n in work.nodes if "q.sens" in n.attrs]


def test_sensitivity_reads_the_synthetic_samples(digits_graph):
    source = SyntheticCalibration(digits_graph, samples=8, options=ZeroQOptions(steps=5))
    arrays = source.calibration_arrays(digits_graph)
    from_source = _sensitivities(digits_graph, source)
    assert from_source and from_source == _sensitivities(digits_graph, arrays[digits_graph.inputs[0].name])


def test_calibrate_leaves_its_synthetic_source_for_later_passes(digits_graph):
    work, ctx = clone(digits_graph), PassContext()
    PassManager("calibrate{data=synthetic,samples=4}").run(work, ctx)
    source = ctx.calibration
    assert isinstance(source, SyntheticCalibration) and source.samples == 4
    first = next(iter(source.calibration_arrays(work).values()))
    assert first.shape[0] == 4
    # asked again, as bias-correct or sensitivity would: the same arrays, not made anew
    assert np.shares_memory(first, next(iter(source.calibration_arrays(work).values())))
