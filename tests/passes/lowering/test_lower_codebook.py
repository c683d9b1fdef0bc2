"""`lower` turns convolutions with codebook weights into qcodebook_conv2d: within a step of
the fake-quant graph, run by the Numba backend integer for integer like the reference,
and on the digits CNN (codebook-quantize, a short codebook-finetune, calibrate,
quantize, lower) as accurate as its fake-quant model."""
import numpy as np
import pytest

from qcompiler.backends.numba import NumbaExecutor
from qcompiler.frontends.fx import import_module
from qcompiler.ir import CodebookType, Graph, verify
from qcompiler.ir.clone import clone
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassContext, PassError, run_pipeline
from qcompiler.runtime.reference import bind_inputs, run_graph, run_node
from qcompiler.testing.zoo import digits_data, train_digits_cnn

RNG = np.random.default_rng(3)


def normal(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def reference_storage(graph, inputs) -> dict:
    """Every value's runtime array (storage integers for quantized values), by the reference."""
    env = bind_inputs(graph, inputs)
    for node in graph.nodes:
        for v, a in zip(node.outputs, run_node(node, [env[id(v)] if v is not None else None for v in node.inputs])):
            env[id(v)] = np.asarray(a)
    return {v.name: env[id(v)] for v in graph.values() if id(v) in env}


def conv_graph(attrs, cin=4, cout=8, bias=True):
    g = Graph("cb")
    x = g.add_input("x", f32("N", cin, 9, 9))
    groups = attrs.get("groups", 1)
    operands = [x, g.constant(normal(cout, cin // groups, 3, 3, scale=0.3), name="w", origin="conv.weight")]
    if bias:
        operands.append(g.constant(normal(cout, scale=0.2), name="b"))
    g.set_outputs([g.add("conv2d", operands, attrs, name="y").output])
    return g


def fake_quant(g, acts="u8", target="generic", codebook="codebook-quantize{index_bits=3}"):
    run_pipeline(g, f"{codebook},calibrate,quantize{{acts={acts}}}",
                 PassContext(target=target, calibration=normal(32, *g.inputs[0].type.shape[1:])))
    return g


CASES = {
    "pad-bias": {"pad": [1, 1, 1, 1]},
    "stride-asymmetric-pad": {"stride": [2, 2], "pad": [1, 0, 2, 1]},
    "dilation-no-bias": {"dilation": [2, 1], "pad": [2, 1, 2, 1]},
    "groups-relu6": {"groups": 2, "pad": [1, 1, 1, 1], "activation": "relu6"},
    "clip": {"activation": "clip", "activation_min": -0.5, "activation_max": 0.75},
}


@pytest.mark.parametrize("acts", ["u8", "i8"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_codebook_conv_lowers_within_a_step_and_runs_exactly_in_numba(case, acts):
    fq = fake_quant(conv_graph(CASES[case], bias=case != "dilation-no-bias"), acts)
    lowered = clone(fq)
    run_pipeline(lowered, "lower", PassContext())
    verify(lowered)
    y = lowered.find("y").producer
    assert y.op == "qcodebook_conv2d" and not any(isinstance(v.type, CodebookType) for v in lowered.values())
    x = normal(16, 4, 9, 9)
    (a,), (b,) = run_graph(fq, [x]), run_graph(lowered, [x])
    off = np.rint(np.abs(a - b) / float(fq.outputs[0].type.scale.array))
    assert off.max() <= 1 and np.mean(off == 0) >= 0.97
    executor = NumbaExecutor(lowered)
    assert not executor.fallback_nodes
    got, want = executor.run_storage([x]), reference_storage(lowered, [x])
    np.testing.assert_array_equal(got["y"], want["y"])


def test_codebook_conv_it_cannot_lower_stays_float_and_still_runs_in_numba():
    fq = fake_quant(conv_graph({"pad": [1, 1, 1, 1], "pad_mode": "reflect"}))
    lowered = clone(fq)
    run_pipeline(lowered, "lower", PassContext())
    y = lowered.find("y").producer
    assert y.op == "quantize" and y.inputs[0].producer.op == "conv2d"
    x = normal(4, 4, 9, 9)
    np.testing.assert_array_equal(NumbaExecutor(lowered)([x])[0], run_graph(lowered, [x])[0])


def test_wide_codewords_on_a_saturating_target_are_refused():
    fq = fake_quant(conv_graph({"pad": [1, 1, 1, 1]}), target="x86-avx2",
                    codebook="codebook-quantize{index_bits=3,codebook_bits=8}")
    with pytest.raises(PassError, match=r"layer %y \(conv2d, conv.weight\).*codewords must lie in \[-64, 63\]"):
        run_pipeline(fq, "lower", PassContext(target="x86-avx2"))


@pytest.fixture(scope="module")
def digits():
    x_train, _, x_test, y_test = (t.numpy() for t in digits_data())
    g = import_module(train_digits_cnn(), (digits_data()[2][:2],), dynamic_batch=True)
    ctx = PassContext(calibration=x_train)
    run_pipeline(g, "fold-bn,canonicalize,codebook-quantize{codebook_bits=6,index_bits=4},"
                    "codebook-finetune{epochs=2,rounds=1,loss=kl},calibrate,quantize", ctx)
    lowered = clone(g)
    run_pipeline(lowered, "lower", ctx)
    verify(lowered)
    return g, lowered, x_test, y_test


def accuracy(logits, labels) -> float:
    return float((logits.argmax(1) == labels).mean())


def test_digits_codebook_cnn_runs_as_integers_in_numba(digits):
    fake_quant_graph, lowered, x_test, y_test = digits
    assert sum(n.op == "qcodebook_conv2d" for n in lowered.nodes) == 2
    executor = NumbaExecutor(lowered)
    assert not executor.fallback_nodes
    got, want = executor.run_storage([x_test]), reference_storage(lowered, [x_test])
    for node in lowered.nodes:
        for v in node.outputs:
            np.testing.assert_array_equal(got[v.name], want[v.name], err_msg=f"%{v.name} ({node.op})")
    fq_accuracy = accuracy(run_graph(fake_quant_graph, [x_test])[0], y_test)
    assert fq_accuracy > 0.95
    assert accuracy(executor([x_test])[0], y_test) >= fq_accuracy - 0.01


def test_codebook_conv_mac_count_is_one_kxk_conv_per_codeword_and_input_channel():
    """The report and cost model count what the kernel multiplies: Cin · K codewords · kh·kw
    per output position (the gathers are additions)."""
    from qcompiler.analysis import macs

    fq = fake_quant(conv_graph(CASES["pad-bias"], bias=True), "u8")
    run_pipeline(fq, "lower", PassContext())
    y = fq.find("y").producer
    x, codebook = y.inputs[0].type.shape, y.inputs[1].type.shape
    out = y.outputs[0].type.shape
    positions = int(np.prod([d for d in out if isinstance(d, int)])) // out[1]
    assert macs(y) == x[1] * int(np.prod(codebook)) * positions > 0
