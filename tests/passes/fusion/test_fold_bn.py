import numpy as np
import pytest

from qcompiler.ir import Graph, verify
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassManager, run_pipeline
from qcompiler.runtime.reference import run_graph

# (op, input shape, weight shape, attrs): weights in the op's own layout
CASES = {
    "conv2d": ("conv2d", (2, 4, 6, 6), (6, 4, 3, 3), {"pad": [1, 1, 1, 1]}),
    "conv2d-grouped": ("conv2d", (2, 4, 6, 6), (6, 2, 3, 3), {"groups": 2, "stride": [2, 2]}),
    "depthwise": ("conv2d", (2, 4, 6, 6), (4, 1, 3, 3), {"groups": 4, "pad": [1, 1, 1, 1]}),
    "conv1d": ("conv1d", (2, 3, 10), (5, 3, 3), {}),
    "linear": ("linear", (7, 5), (6, 5), {}),
    "conv-transpose": ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), {"stride": [2, 2]}),
    "conv-transpose-grouped": ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 2, 2), {"groups": 2}),
}


def conv_bn(case: str, bias: bool, rng, eps=1e-3):
    op, x_shape, w_shape, attrs = CASES[case]
    g = Graph()
    x = g.add_input("x", f32(*x_shape))
    w = g.constant(rng.standard_normal(w_shape).astype(np.float32), origin="conv.weight")
    out_channels = w_shape[1] * attrs.get("groups", 1) if op == "conv_transpose2d" else w_shape[0]
    ins = [x, w]
    if bias:
        ins.append(g.constant(rng.standard_normal(out_channels).astype(np.float32), origin="conv.bias"))
    y = g.add(op, ins, attrs, name="conv").output
    params = {"weight": rng.uniform(0.5, 2.0, out_channels), "bias": rng.standard_normal(out_channels),
              "running_mean": rng.standard_normal(out_channels), "running_var": rng.uniform(0.1, 3.0, out_channels)}
    bn_in = [g.constant(p.astype(np.float32), origin=f"bn.{k}") for k, p in params.items()]
    g.set_outputs([g.add("batch_norm", [y] + bn_in, {"eps": eps}, name="bn").output])
    return g


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_folded_conv_matches_conv_then_bn(case, bias):
    rng = np.random.default_rng(7)
    g = conv_bn(case, bias, rng)
    x = rng.standard_normal(g.inputs[0].type.shape).astype(np.float32)
    before = run_graph(g, [x])[0]
    run_pipeline(g, "fold-bn")
    verify(g)
    assert g.op_counts() == {"const": 2, CASES[case][0]: 1}
    after = run_graph(g, [x])[0]
    assert np.abs(after - before).max() <= 1e-5 * np.abs(before).max()
    conv = g.nodes[-1]
    assert conv.output.name == "bn"
    assert conv.inputs[1].producer.attrs["origin"] == "conv.weight"
    assert conv.inputs[2].producer.attrs["origin"] == ("conv.bias" if bias else "bn.bias")


def test_stats_count_every_fold():
    rng = np.random.default_rng(0)
    g = conv_bn("conv2d", True, rng)
    y = g.outputs[0]
    w2 = g.constant(rng.standard_normal((6, 6, 1, 1)).astype(np.float32))
    y2 = g.add("conv2d", [y, w2]).output
    params = [g.constant(np.full(6, v, np.float32)) for v in (1.0, 0.0, 0.0, 1.0)]
    g.set_outputs([g.add("batch_norm", [y2] + params).output])
    pm = PassManager("fold-bn")
    pm.run(g)
    assert pm.history[0].stats == {"fold-bn": 2}
    assert g.op_counts() == {"const": 4, "conv2d": 2}


def test_not_folded_when_the_conv_result_is_read_elsewhere():
    g = conv_bn("conv2d", True, np.random.default_rng(0))
    conv = next(n for n in g.nodes if n.op == "conv2d")
    g.set_outputs([g.outputs[0], conv.output])
    run_pipeline(g, "fold-bn")
    assert "batch_norm" in g.op_counts()


def test_not_folded_with_runtime_parameters_or_a_fused_activation():
    g = Graph()
    x = g.add_input("x", f32(1, 2, 4, 4))
    mean = g.add_input("mean", f32(2))
    w = g.constant(np.ones((2, 2, 1, 1), np.float32))
    y = g.add("conv2d", [x, w]).output
    ones, zeros = g.constant(np.ones(2, np.float32)), g.constant(np.zeros(2, np.float32))
    a = g.add("batch_norm", [y, ones, zeros, mean, ones]).output
    z = g.add("conv2d", [x, w], {"activation": "relu"}).output
    b = g.add("batch_norm", [z, ones, zeros, zeros, ones]).output
    g.set_outputs([a, b])
    run_pipeline(g, "fold-bn")
    assert g.op_counts()["batch_norm"] == 2


def test_a_calibrated_graph_keeps_the_batch_norm_range_on_the_folded_result():
    g = conv_bn("conv2d", True, np.random.default_rng(0))
    g.find("conv").producer.attrs.update({"q.range": [-9.0, 9.0], "q.method": "minmax"})
    g.find("bn").producer.attrs.update({"q.range": [-2.0, 3.0], "q.method": "minmax"})
    run_pipeline(g, "fold-bn")
    (conv,) = [n for n in g.nodes if n.op == "conv2d"]
    assert conv.attrs["q.range"] == [-2.0, 3.0]
