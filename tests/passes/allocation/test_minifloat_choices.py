"""allocate-bits choosing a minifloat format (e4m3 / e2m3 / e2m1) or int8 per layer under a size budget."""
import numpy as np
import pytest
import torch

from qcompiler.analysis.size import storage_bytes
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.frontends.fx import import_module
from qcompiler.ir.clone import clone
from qcompiler.ir.types import MinifloatType
from qcompiler.passmanager import PassContext, PassError, run_pipeline
from qcompiler.pipelines import PipelineError
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.zoo import digits_data, train_digits_cnn

FORMATS = "[e4m3,e2m3,e2m1]"


@pytest.fixture(scope="module")
def measured():
    """The digits CNN calibrated, with q.sens of every layer at every format."""
    torch.set_num_threads(1)
    x_train = digits_data()[0][:64]
    graph = import_module(train_digits_cnn(), x_train[:4], dynamic_batch=True)
    ctx = PassContext(calibration=x_train.numpy())
    measure = f"minifloat-sensitivity{{formats={FORMATS}, samples=16}}"
    run_pipeline(graph, f"fold-bn,calibrate{{method=minmax}},{measure}", ctx)
    return graph, ctx


def test_sensitivities_grow_as_the_format_shrinks(measured):
    graph, _ = measured
    layers = [n for n in graph.nodes if n.op in ("conv2d", "linear")]
    for node in layers:
        sens = node.attrs["q.sens"]
        assert 0 < sens["e4m3"] < sens["e2m1"] and sens["e2m3"] < sens["e2m1"], (node.label(), sens)


def test_a_size_budget_gives_some_layers_narrower_formats(measured):
    graph, ctx = clone(measured[0]), measured[1]
    all_e4m3 = 72 + 1152 + 2560  # bytes: one per weight
    run_pipeline(graph, f"allocate-bits{{choices={FORMATS}, budget.size=3000}},quantize{{weights=e4m3}}", ctx)
    layers = [n for n in graph.nodes if n.op in ("conv2d", "linear")]
    formats = [n.attrs["q.format"] for n in layers]
    assert "q.bits" not in layers[0].attrs and set(formats) != {"e4m3"}, formats
    for node, name in zip(layers, formats):
        assert isinstance(node.inputs[1].type, MinifloatType) and node.inputs[1].type.format == name
    size = sum(storage_bytes(n.inputs[1].type) for n in layers)
    assert size <= 3000 < all_e4m3


def test_int8_and_minifloat_layers_in_one_graph(measured):
    """sensitivity{metric=sqnr} then minifloat-sensitivity: comparable noise ratios for
    8-bit integers and formats; under a budget below all-int8 some layers take a 6-bit
    format, and quantize + lower give a graph the reference and Numba run alike."""
    graph, ctx = clone(measured[0]), measured[1]
    measure = f"sensitivity{{metric=sqnr, bits=[8], samples=16}},minifloat-sensitivity{{formats={FORMATS}, samples=16}}"
    run_pipeline(graph, f"{measure},allocate-bits{{choices=[8,e4m3,e2m3], budget.size=3400}},quantize,lower", ctx)
    layers = [n for n in graph.nodes if n.op in ("conv2d", "linear", "qconv2d", "qlinear")]
    kinds = {type(n.inputs[1].type).__name__ for n in layers}
    assert kinds == {"QuantType", "MinifloatType"}, [(n.label(), n.inputs[1].type) for n in layers]
    assert sum(storage_bytes(n.inputs[1].type) for n in layers) <= 3400
    x = digits_data()[2][:64].numpy()
    reference = run_graph(graph, [x])[0]
    np.testing.assert_allclose(NumbaExecutor(graph)([x])[0], reference, rtol=1e-3, atol=1e-3)
    assert (reference.argmax(1) == digits_data()[3][:64].numpy()).mean() > 0.9


def test_bad_mixes_are_refused(measured):
    with pytest.raises(PipelineError, match=r"minifloat formats are chosen per layer \(granularity=layer\)"):
        run_pipeline(None, "allocate-bits{choices=[8,e4m3], granularity=channel-group:4}", PassContext())
    graph = clone(measured[0])
    next(n for n in graph.nodes if n.op == "linear").attrs["q.bits"] = 4
    with pytest.raises(PassError, match=r"given integer weights \(q.bits=4\).*do not mix"):
        run_pipeline(graph, "quantize{weights=e4m3}", measured[1])
