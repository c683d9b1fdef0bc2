"""Codebook models through the main export: the fake-quant graph (QDQ) and the lowered
graph with qcodebook_conv2d (integer and qoperator forms), with codebook="gather" and
codebook="int8". Each passes the checker and runs in ONNX Runtime; the integer form
equals the reference integer for integer both ways (cb6 codewords keep every u8×s8
pair sum exact, so this holds on any CPU), and CompiledModel.export_onnx passes the
spelling through."""
import numpy as np
import onnx
import pytest
import torch
from onnx_export_helpers import run_onnx
from onnx_export_quantized import quantized_values
from torch import nn

from qcompiler.backends.onnx import to_onnx
from qcompiler.model.compiled import CompiledModel
from qcompiler.frontends.fx import import_module
from qcompiler.ir import verify
from qcompiler.ir.clone import clone
from qcompiler.numerics.affine import quantize
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.targets import get_target

RNG = np.random.default_rng(4)
X = RNG.standard_normal((5, 3, 10, 10)).astype(np.float32)
SPELLING = {"gather": ("Gather", "ConvInteger"), "int8": ("ConvInteger",)}


@pytest.fixture(scope="module")
def graphs():
    """(fake-quant graph with codebook weights, its lowered copy)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2),
                          nn.Conv2d(32, 32, 3, padding=1, groups=4), nn.Flatten(), nn.Linear(32 * 4 * 4, 5))
    g = import_module(model.eval(), (torch.from_numpy(X[:1]),), dynamic_batch=True)
    run_pipeline(g, "fuse-activations,codebook-quantize{index_bits=3},calibrate,quantize",
                 PassContext(calibration=RNG.standard_normal((32, 3, 10, 10)).astype(np.float32)))
    lowered = clone(g)
    run_pipeline(lowered, "lower")
    verify(lowered)
    assert sum(n.op == "qcodebook_conv2d" for n in lowered.nodes) == 3
    return g, lowered


def reference_storage(graph, x) -> dict:
    _, env = run_graph(graph, [x], keep=True)
    return {v.name: quantize(env[v.name], v.type).astype(np.int64) for v in quantized_values(graph)}


@pytest.mark.parametrize("codebook", sorted(SPELLING))
def test_lowered_integer_form_equals_the_reference(graphs, codebook):
    _, lowered = graphs
    model = to_onnx(lowered, "integer", codebook=codebook)
    ops = {n.op_type for n in model.graph.node}
    assert set(SPELLING[codebook]) <= ops and ("Gather" in ops) == (codebook == "gather")
    want = reference_storage(lowered, X)
    got = run_onnx(model, {lowered.inputs[0].name: X}, [f"{name}:q" for name in want])
    for name, storage in want.items():
        np.testing.assert_array_equal(got[f"{name}:q"], storage, err_msg=f"%{name}")
    assert any(n.op == "qcodebook_conv2d" for n in lowered.nodes)  # exporting left the graph alone


@pytest.mark.parametrize("codebook", sorted(SPELLING))
def test_lowered_qoperator_form_within_a_step(graphs, codebook):
    _, lowered = graphs
    model = to_onnx(lowered, "qoperator", codebook=codebook)
    assert ("QLinearConv" in {n.op_type for n in model.graph.node}) == (codebook == "int8")
    step = float(lowered.outputs[0].type.scale.array)
    name = lowered.outputs[0].name
    off = np.abs(run_onnx(model, {lowered.inputs[0].name: X})[name] - run_graph(lowered, [X])[0]) / step
    assert off.max() <= 1 + 1e-4


@pytest.mark.parametrize("codebook", sorted(SPELLING))
def test_fake_quant_qdq_form_is_the_fake_quant_graph(graphs, codebook):
    """Exactly the fake-quant graph but for float rounding without ONNX Runtime's graph
    optimizations; within a step with them (its fused kernels round the float bias at
    s_x·s_w)."""
    fake_quant, _ = graphs
    model = to_onnx(fake_quant, "qdq", codebook=codebook)
    assert ("Gather" in {n.op_type for n in model.graph.node}) == (codebook == "gather")
    step = float(fake_quant.outputs[0].type.scale.array)
    name, want = fake_quant.outputs[0].name, run_graph(fake_quant, [X])[0]
    for optimize, exact in ((False, 0.98), (True, 0.3)):
        off = np.abs(run_onnx(model, {fake_quant.inputs[0].name: X}, optimize=optimize)[name] - want) / step
        assert off.max() <= 1 + 1e-4 and np.mean(off < 1e-4) >= exact


def test_compiled_model_passes_the_spelling_through(graphs, tmp_path):
    fake_quant, lowered = graphs
    cm = CompiledModel(lowered, None, get_target("generic"), "lower", fake_quant_graph=fake_quant)
    for codebook in SPELLING:
        path = cm.export_onnx(tmp_path / f"{codebook}.onnx", form="integer", codebook=codebook)
        model = onnx.load(path)
        assert ("Gather" in {n.op_type for n in model.graph.node}) == (codebook == "gather")
        got = run_onnx(model, {lowered.inputs[0].name: X})[lowered.outputs[0].name]
        np.testing.assert_array_equal(got, run_graph(lowered, [X])[0])
