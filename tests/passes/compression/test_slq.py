"""slq / mlq on the digits CNN: re-training between rounds beats one-shot quantization
at the same width; the result is the quantize pass's weight form, which calibrate,
quantize and lower take as it is."""
import numpy as np
import pytest
import torch

from qcompiler.cli.demo import load_demo_model
from qcompiler.frontends.fx import import_module
from qcompiler.ir import verify
from qcompiler.ir.types import QuantType
from qcompiler.passmanager import PassContext, PassError, PassManager
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.zoo import digits_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test = digits_data()
    return load_demo_model(), x_train, list(zip(x_train.split(64), y_train.split(64))), x_test.numpy(), y_test


def compiled(digits, pipeline, **ctx_args):
    model, x_train, labelled, *_ = digits
    graph = import_module(model, x_train[:4], dynamic_batch=True)
    pm = PassManager(pipeline)
    pm.run(graph, PassContext(**{"calibration": labelled, **ctx_args}))
    verify(graph)
    return graph, {r.name: r.stats for r in pm.history}


def scores(digits, graph):
    """(test accuracy, test cross entropy)."""
    *_, x_test, y_test = digits
    logits = torch.from_numpy(run_graph(graph, [x_test])[0])
    return (logits.argmax(1) == y_test).float().mean().item(), torch.nn.functional.cross_entropy(logits, y_test).item()


def weights(graph):
    return {n.output.name: n for n in graph.nodes if n.op == "const" and isinstance(n.output.type, QuantType)}


def test_4bit_slq_beats_one_shot_minmax_on_the_same_grid(digits):
    one_shot, _ = compiled(digits, "fold-bn,calibrate,quantize{weights=i4}")
    slq, stats = compiled(digits, "fold-bn,slq{bits=4,method=minmax},calibrate,quantize{weights=i4}")
    (acc_one, ce_one), (acc_slq, ce_slq) = scores(digits, one_shot), scores(digits, slq)
    assert acc_slq > acc_one and ce_slq < 0.8 * ce_one, (acc_one, ce_one, acc_slq, ce_slq)
    rounds = stats["slq"]["rounds"]
    assert [r["fraction"] for r in rounds] == [0.0, 0.5, 0.75, 1.0]
    assert all(r["loss_retrained"] < r["loss"] for r in rounds[1:-1])
    assert {(t.storage, t.axis) for t in (n.output.type for n in weights(slq).values())} == {("i4", 0)}


def test_2bit_slq_recovers_what_one_shot_mse_loses(digits):
    one_shot, _ = compiled(digits, "fold-bn,calibrate{method=mse,weight_bits=2},quantize{weights=i2}")
    slq, _ = compiled(digits, "fold-bn,slq{bits=2},calibrate,quantize{weights=i2}")
    (acc_one, ce_one), (acc_slq, ce_slq) = scores(digits, one_shot), scores(digits, slq)
    assert acc_slq > acc_one and ce_slq < 0.6 * ce_one, (acc_one, ce_one, acc_slq, ce_slq)


def test_mlq_steps_down_its_levels_and_ends_at_the_last(digits):
    one_shot, _ = compiled(digits, "fold-bn,calibrate{method=mse,weight_bits=2},quantize{weights=i2}")
    mlq, stats = compiled(digits, "fold-bn,mlq{levels=[4,2]},calibrate,quantize{weights=i2}")
    assert [r["bits"] for r in stats["mlq"]["rounds"][1:]] == [[4]] * 3 + [[2]] * 3
    assert {n.output.type.storage for n in weights(mlq).values()} == {"i2"}
    assert all(node.attrs["q.bits"] == 2 for node in mlq.nodes if node.op in ("conv2d", "linear"))
    (acc_one, ce_one), (acc_mlq, ce_mlq) = scores(digits, one_shot), scores(digits, mlq)
    assert acc_mlq > acc_one and ce_mlq < 0.6 * ce_one, (acc_one, ce_one, acc_mlq, ce_mlq)


def test_without_retraining_the_weights_are_the_quantize_pass_weights(digits):
    reference, _ = compiled(digits, "fold-bn,calibrate,quantize{weights=i4}")
    slq, _ = compiled(digits, "fold-bn,slq{bits=4,method=minmax,epochs=0},calibrate,quantize{weights=i4}")
    ours, theirs = weights(slq), weights(reference)
    assert set(ours) == set(theirs) and len(ours) == 3
    for name, node in ours.items():
        assert node.output.type == theirs[name].output.type
        assert np.array_equal(node.attrs["value"].array, theirs[name].attrs["value"].array)
        assert np.array_equal(node.meta["float_value"], theirs[name].meta["float_value"])


def test_the_result_lowers_to_integer_ops(digits):
    graph, _ = compiled(digits, "fold-bn,slq{bits=4,epochs=1},calibrate,quantize{weights=i4},lower")
    ops = graph.op_counts()
    assert ops.get("qconv2d") == 2 and ops.get("qlinear") == 1
    assert scores(digits, graph)[0] > 0.96


def test_retraining_also_recovers_what_low_rank_loses(digits):
    float_graph, _ = compiled(digits, "fold-bn")
    factored, stats = compiled(digits, "fold-bn,low-rank{energy=0.9}")
    assert stats["low-rank"]["layers"]["classifier"]["rank"] == 8
    both, _ = compiled(digits, "fold-bn,low-rank{energy=0.9},slq{bits=4},calibrate,quantize{weights=i4},lower")
    assert both.op_counts().get("qlinear") == 2
    fp32, low_rank, recovered = (scores(digits, g)[0] for g in (float_graph, factored, both))
    assert low_rank < fp32 - 0.01 and recovered > low_rank + 0.01, (fp32, low_rank, recovered)


def test_pruned_zeros_stay_zero_and_q_bits_overrides_the_width(digits):
    model, x_train, *_ = digits
    graph = import_module(model, x_train[:4], dynamic_batch=True)
    PassManager("fold-bn,prune{sparsity=0.5}").run(graph, PassContext())
    zeros = {n.output.name: n.attrs["value"].array == 0 for n in graph.nodes if n.op == "const"}
    graph.find("classifier").producer.attrs["q.bits"] = 8
    PassManager("slq{bits=4,epochs=1}").run(graph, PassContext(calibration=digits[2]))
    verify(graph)
    for name, node in weights(graph).items():
        assert np.all(node.attrs["value"].array[zeros[name]] == 0)
        assert node.output.type.storage == ("i8" if name == "classifier.weight" else "i4")


def test_missing_labels_and_unsupported_widths_are_errors(digits):
    with pytest.raises(PassError, match=r"slq: batch 0 carries no labels \(got Tensor"):
        compiled(digits, "fold-bn,slq", calibration=list(digits[1].split(64)))
    with pytest.raises(PassError, match="target 'cortex-m' cannot run i4 weights in 'conv2d'"):
        compiled(digits, "fold-bn,slq{bits=4}", target="cortex-m")
