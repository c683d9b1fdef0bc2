"""codebook-quantize on small generated networks: which weights it takes, index widths,
sharing, exactness when every kernel has its own codeword, option errors."""
import numpy as np
import pytest
import torch
from codebook_nets import small_graph, weight
from torch import nn

from qcompiler.frontends.fx import import_module
from qcompiler.ir import CodebookType, verify
from qcompiler.ir.codebook import CODEBOOK, SCALE, decode
from qcompiler.passes.codebook.errors import CodebookError
from qcompiler.passmanager import PassContext, make_pass, run_pipeline


def test_takes_the_3x3_convolutions_only():
    g = small_graph()
    run_pipeline(g, "codebook-quantize{index_bits=4}")
    verify(g)
    assert isinstance(weight(g, "0.weight").type, CodebookType) and isinstance(weight(g, "2.weight").type, CodebookType)
    assert weight(g, "3.weight").type.dtype == "f32" and weight(g, "5.weight").type.dtype == "f32"
    # 8 kernels need 3 index bits; 32 kernels get the 4 asked for
    assert weight(g, "0.weight").type.index_bits == 3 and weight(g, "2.weight").type.index_bits == 4
    assert weight(g, "2.weight").producer.attrs["value"].array.shape == (8, 4)


def test_a_codeword_per_kernel_is_exact_up_to_the_codeword_grid():
    g = small_graph()
    floats = {o: g.const_value(weight(g, o)).copy() for o in ("0.weight", "2.weight")}
    run_pipeline(g, "codebook-quantize{index_bits=5,codebook_bits=8}")
    for origin, w in floats.items():
        const = weight(g, origin).producer
        assert np.abs(decode(const) - w).max() <= const.attrs[SCALE] / 2 * (1 + 1e-6)
        np.testing.assert_array_equal(const.meta["float_value"], w)


def test_share_model_gives_every_layer_the_same_codebook():
    g = small_graph()
    run_pipeline(g, "codebook-quantize{index_bits=4,share=model}")
    a, b = weight(g, "0.weight").producer, weight(g, "2.weight").producer
    assert a.attrs[CODEBOOK] == b.attrs[CODEBOOK] and a.attrs[SCALE] == b.attrs[SCALE]
    assert a.output.type.index_bits == b.output.type.index_bits == 4


def test_seeded():
    graphs = [small_graph(), small_graph()]
    for g in graphs:
        run_pipeline(g, "codebook-quantize{index_bits=2}", PassContext(seed=3))
    a, b = (weight(g, "2.weight").producer for g in graphs)
    assert a.attrs[CODEBOOK] == b.attrs[CODEBOOK] and a.attrs["value"] == b.attrs["value"]


def test_graph_without_convolutions_is_left_alone():
    g = import_module(nn.Linear(4, 2).eval(), (torch.randn(1, 4),))
    ctx = PassContext()
    run_pipeline(g, "codebook-quantize", ctx)
    assert "no 3x3 convolution weights" in str(ctx.diagnostics[0])


@pytest.mark.parametrize("options, message", [
    ({"index_bits": 9}, "index_bits=9 is outside 2..8"),
    ({"codebook_bits": 1}, "codebook_bits=1 is outside 2..8"),
    ({"kernel": "3y3"}, "kernel='3y3' is not a kernel shape like 3x3"),
    ({"share": "net"}, "share='net'; expected one of layer, model"),
])
def test_option_errors(options, message):
    with pytest.raises(CodebookError, match=message):
        make_pass("codebook-quantize", options)
