"""KeepFloat keeps the graph as it last stood with no quantized value."""
import numpy as np

from qcompiler.instruments.keep_float import KeepFloat
from qcompiler.ir import Dense, QuantType, graph_diff
from qcompiler.passmanager import PassContext, PassResult, graph_pass, run_pipeline


@graph_pass("test-quantize-first-weight")
def quantize_first_weight(graph, ctx):
    """Gives the first constant an i8 type (the test stand-in for `quantize`)."""
    node = next(n for n in graph.nodes if n.op == "const")
    v = node.output
    scale = float(np.abs(node.attrs["value"].array).max()) / 127
    v.type = QuantType("i8", "f32", v.type.shape, scale=scale, zero_point=0)
    node.attrs["value"] = Dense(np.round(node.attrs["value"].array / scale).astype(np.int32))
    return PassResult(True)


def test_keeps_the_last_float_state(net):
    keep = KeepFloat()
    run_pipeline(net, "fold-bn", PassContext(), [keep])
    expected = keep.graph
    assert graph_diff(expected, net) is None and expected is not net
    run_pipeline(net, "fuse-activations,test-quantize-first-weight,dce", PassContext(), [keep])
    assert [n.op for n in keep.graph.nodes if n.op != "const"] == ["conv2d", "conv2d"]  # fused, not quantized
    assert not any(isinstance(v.type, QuantType) for v in keep.graph.values())
    assert any(isinstance(v.type, QuantType) for v in net.values())
