"""The integer form of a graph whose layers read 4-bit and 8-bit activations (widths
chosen per layer by allocate-bits on the deep digits CNN) runs in ONNX Runtime and
stores exactly the reference interpreter's integers, the 4-bit ones held in int8."""
import numpy as np
import pytest

from qcompiler.backends.onnx import to_onnx
from qcompiler.testing.allocated_digits import allocated_digits_graph

from onnx_export_helpers import run_onnx
from onnx_export_quantized import has_vnni, reference_storage


@pytest.mark.skipif(not has_vnni(), reason="u8 x s8 pair sums saturate on this x86 CPU (no VNNI)")
def test_mixed_activation_widths_exact():
    graph, _, _, x_test = allocated_digits_graph("30%")
    read = {n.inputs[0].type.storage for n in graph.nodes if n.op in ("qconv2d", "qlinear")}
    assert read == {"i4", "u8"}
    model = to_onnx(graph, "integer")
    assert {"ConvInteger", "MatMulInteger"} <= {n.op_type for n in model.graph.node}
    feeds = {"x": x_test[:64]}
    outputs, storage = reference_storage(graph, feeds)
    got = run_onnx(model, feeds, [f"{name}:q" for name in storage])
    for name, want in storage.items():
        np.testing.assert_array_equal(got[f"{name}:q"].astype(np.int64), want, err_msg=f"%{name}")
    np.testing.assert_array_equal(got[graph.outputs[0].name], outputs[0])
