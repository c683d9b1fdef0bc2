"""qat on the bundled digits CNN (8x8 digits) at W4A4: accuracy over PTQ, the learned
scales in the lowered model, BR-QAT's mixed models."""
import numpy as np
import pytest
import torch

import qcompiler
from qcompiler.cli.demo import load_demo_model
from qcompiler.ir.types import QuantType
from qcompiler.model.loading import load_model
from qcompiler.passes.qat import QAT
from qcompiler.passes.qat.block_replacement import MixedModels
from qcompiler.passes.qat.training_module import TrainingModule
from qcompiler.passes.rounding.float_weights import rounded_weights
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.zoo import digits_data

PREPARE = ["fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=minmax},"
           "quantize{weights=i4,acts=u4}"]


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test = digits_data()
    return x_train.numpy(), y_train.numpy(), x_test.numpy(), y_test.numpy()


@pytest.fixture(scope="module")
def ptq(digits):
    x_train = digits[0]
    graph = load_model(load_demo_model(), torch.from_numpy(x_train[:1]), dynamic_batch=True)
    PassManager(PREPARE).run(graph, PassContext(calibration=x_train[:128]))
    return graph


@pytest.fixture(scope="module")
def lsq(digits):
    x_train, y_train, _, _ = digits
    pipeline = PREPARE + [QAT(epochs=1, lr=1e-3, data=(x_train[:768], y_train[:768])), "lower"]
    return qcompiler.compile(load_demo_model(), calibration=x_train[:128], pipeline=pipeline, progress=False)


def top1(graph, x, y) -> float:
    return float((run_torch(graph, [x])[0].argmax(1) == y).mean())


def test_qat_raises_w4a4_accuracy_over_ptq(digits, ptq, lsq):
    _, _, x_test, y_test = digits
    before, after = top1(ptq, x_test, y_test), top1(lsq.fake_quant_graph, x_test, y_test)
    # measured: 95.8% after PTQ (minmax), 98.3% after two epochs of LSQ (float: 98.1%)
    assert after > before + 0.01, (before, after)
    assert any(n.attrs.get("q.qat") == "lsq" for n in lsq.fake_quant_graph.nodes)


def test_learned_scales_survive_into_the_lowered_model(digits, ptq, lsq):
    x = digits[2][:64]
    fake = lsq.fake_quant_graph
    learned = {v.name: v.type.scale for v in fake.values() if isinstance(v.type, QuantType)}
    calibrated = {v.name: v.type.scale for v in ptq.values() if isinstance(v.type, QuantType)}
    assert sum(learned[k] != calibrated[k] for k in learned.keys() & calibrated.keys()) > 3
    lowered = {v.name: v.type.scale for v in lsq.graph.values() if isinstance(v.type, QuantType)}
    assert all(lowered[k] == learned[k] for k in lowered.keys() & learned.keys())
    output_step = float(lsq.graph.outputs[0].type.scale.array.max())
    # integer kernels (Numba) vs the torch fake-quant simulation of the learned model
    assert np.abs(lsq(x) - run_torch(fake, [x])[0]).max() <= output_step * 1.001


def test_br_qat_mixed_models_each_have_exactly_one_quantized_block(ptq):
    backbone_weights = rounded_weights(ptq, PassContext())
    backbone = TrainingModule(ptq, backbone_weights, "lsq")
    mixed = MixedModels(ptq, backbone_weights, "lsq", backbone, block_layers=2, loss="auto")
    assert len(mixed.graphs) == len(mixed.blocks) >= 2
    block_layers = [{w.layer.outputs[0].name for w in block.weights} for block in mixed.blocks]
    for graph, layers, model in zip(mixed.graphs, block_layers, mixed.models):
        quantized_weights = {u.outputs[0].name for n in graph.nodes if n.op == "const"
                             and isinstance(n.output.type, QuantType) for u in n.output.users}
        assert quantized_weights == layers
        # the block trains the backbone's own parameters
        shared = {id(p) for p in backbone.module.parameters()}
        assert {id(p) for p in model.parameters()} <= shared
