"""qat where the compiler removed capacity: after `prune` the pruned weights stay exactly
zero, after AutoQB's binary channel groups the binary weights stay sign × scale; both
recover accuracy over their PTQ start and deploy through lower and Numba unchanged."""
import numpy as np
import pytest
import torch

import qcompiler.passes.allocation  # noqa: F401  (registers allocate-bits)
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.frontends.fx import import_module
from qcompiler.ir.clone import clone
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import dequantize
from qcompiler.passes.qat import QAT
from qcompiler.passes.qat.binary_step import BinaryStep
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.zoo import digits_data, train_digits_cnn

PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce"
PRUNE = PREPARE + ",prune{sparsity=0.7},calibrate{method=mse},quantize{weights=i4,acts=u8}"
BINARIZE = (PREPARE + ",calibrate{method=mse},sensitivity{metric=hessian,samples=128,tol=0.2},"
            "allocate-bits{granularity=channel-group:4,choices=[1,2,4],budget.size=30%},quantize{acts=u8}")


@pytest.fixture(scope="module")
def digits():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test = (a.numpy() for a in digits_data())
    yield x_train, y_train, x_test, y_test
    torch.set_num_threads(before)


class Retrained:
    """The graph after PTQ (`ptq`), the same graph after one epoch of qat (`graph`), and
    the weight constants' integers before qat."""

    def __init__(self, digits, pipeline: str):
        x_train, y_train, x_test, _ = digits
        self.ptq = import_module(train_digits_cnn(epochs=2), torch.from_numpy(x_test[:1]), dynamic_batch=True)
        ctx = PassContext(target="generic", calibration=x_train[:128])
        PassManager(pipeline).run(self.ptq, ctx)
        self.graph = clone(self.ptq)
        _copy_float_caches(self.ptq, self.graph)
        manager = PassManager([QAT(epochs=1, lr=1e-3, data=(x_train, y_train))])
        manager.run(self.graph, ctx)
        self.stats = manager.history[-1].stats


def _copy_float_caches(source, target) -> None:
    """clone() leaves meta behind; qat reads quantize's float weights from it."""
    floats = {n.output.name: n.meta["float_value"] for n in source.nodes if "float_value" in n.meta}
    for node in target.nodes:
        if node.op == "const" and node.output.name in floats:
            node.meta["float_value"] = floats[node.output.name]


@pytest.fixture(scope="module")
def pruned(digits):
    return Retrained(digits, PRUNE)


@pytest.fixture(scope="module")
def binarized(digits):
    return Retrained(digits, BINARIZE)


def weights(graph) -> dict:
    """layer name -> (weight type, stored integers, cached float weights)."""
    return {n.outputs[0].name: (n.inputs[1].type, np.asarray(n.inputs[1].producer.attrs["value"].array),
                                n.inputs[1].producer.meta.get("float_value"))
            for n in graph.nodes if n.op in ("conv2d", "linear") and isinstance(n.inputs[1].type, QuantType)}


def top1(graph, x, y) -> float:
    return float((run_torch(graph, [x])[0].argmax(1) == y).mean())


def test_pruned_weights_stay_exactly_zero(pruned):
    before, after = weights(pruned.ptq), weights(pruned.graph)
    assert pruned.stats["pruned_zeros"] == sum(int((f == 0).sum()) for _, _, f in before.values()) > 0
    moved = 0
    for name, (t, q, trained_float) in after.items():
        pruned_positions = before[name][2] == 0
        assert pruned_positions.mean() == pytest.approx(0.7, abs=0.01)
        assert not dequantize(q, t)[pruned_positions].any(), name
        assert not trained_float[pruned_positions].any(), name
        moved += int((q != before[name][1]).sum())
    assert moved > 100  # the kept weights did train


def test_binary_channels_stay_sign_times_their_mean_magnitude(binarized):
    before, after = weights(binarized.ptq), weights(binarized.graph)
    binary = [name for name, (t, _, _) in after.items() if t.storage == "b1"]
    assert len(binary) == binarized.stats["binary_weights"] >= 3
    flipped = 0
    for name in binary:
        t, q, trained_float = after[name]
        assert set(np.unique(q)) <= {-1, 1}
        np.testing.assert_array_equal(q, np.where(trained_float >= 0, 1, -1))
        mean_magnitude = np.abs(trained_float).reshape(len(q), -1).mean(axis=1)
        np.testing.assert_allclose(t.scale.array.reshape(-1), mean_magnitude, rtol=1e-6)
        flipped += int((q != before[name][1]).sum())
    assert flipped > 0  # the signs trained too


@pytest.mark.parametrize("case", ["pruned", "binarized"])
def test_retraining_recovers_accuracy_and_deploys_in_numba(case, request, digits):
    retrained = request.getfixturevalue(case)
    _, _, x_test, y_test = digits
    before, after = top1(retrained.ptq, x_test, y_test), top1(retrained.graph, x_test, y_test)
    # measured (one epoch): pruned 70% at i4 71% -> 90%, binary groups at 30% of the 8-bit size 87% -> 94%
    assert after > before + 0.04, (before, after)
    lowered = clone(retrained.graph)
    PassManager("lower").run(lowered, PassContext(target="generic"))
    reference = run_graph(lowered, [x_test])[0]
    np.testing.assert_array_equal(NumbaExecutor(lowered)([x_test])[0], reference)
    assert (reference.argmax(1) == y_test).mean() > after - 0.02


def test_binary_step_forward_is_the_sign_times_the_channel_mean_and_its_gradient_reaches_every_weight():
    w = torch.nn.Parameter(torch.tensor([[0.5, -1.5, 0.0], [-0.2, -0.4, 0.6]]))
    step = BinaryStep(w, 0, "lsq")
    q = step(w)
    torch.testing.assert_close(q, torch.tensor([[2 / 3, -2 / 3, 2 / 3], [-0.4, -0.4, 0.4]]))
    q.sum().backward()
    # d/dw of sign(w)·mean|w|: the straight-through 1 times the channel's scale, plus
    # the scale's own gradient sign(w_i)/n (0 at w_i = 0) times the sum of the channel's signs
    expected = torch.tensor([[2 / 3 + 1 / 3, 2 / 3 - 1 / 3, 2 / 3],
                             [0.4 + 1 / 3, 0.4 + 1 / 3, 0.4 - 1 / 3]])
    torch.testing.assert_close(w.grad, expected)
    assert list(step.parameters()) == []  # the weight trains as a weight, not as a step size


def test_a_channel_of_zeros_takes_the_largest_scale_as_quantize_does():
    w = torch.nn.Parameter(torch.tensor([[0.0, 0.0], [1.0, -3.0]]))
    np.testing.assert_array_equal(BinaryStep(w, 0, "lsq").learned_scale(), np.float32([2.0, 2.0]))


def test_bit_reallocation_leaves_binary_channels_binary(binarized, digits):
    x_train, y_train, _, _ = digits
    graph = clone(binarized.ptq)
    _copy_float_caches(binarized.ptq, graph)
    # freeze_after=1: reallocate through the whole epoch (8 steps: the warm-up and steps 4 and 8), so the
    # binary channels meet two reallocations; the default 1/3 would stop them before step 4
    qat = QAT(epochs=1, lr=1e-3, data=(x_train[:512], y_train[:512]), bitopt="qbitopt", budget={"size": "60%"},
              every=4, choices=(2, 4, 8), freeze_after=1.0)
    manager = PassManager([qat])
    manager.run(graph, PassContext(target="generic"))
    history = manager.history[-1].stats["bits"]
    binary = {name for name, (t, _, _) in weights(binarized.ptq).items() if t.storage == "b1"}
    assert len(history) == 3 and binary and all(weights(graph)[name][0].storage == "b1" for name in binary)
    assert all(binary.isdisjoint(entry["bits"]) and entry["size"] <= entry["budget"] * (1 + 1e-6) for entry in history)
