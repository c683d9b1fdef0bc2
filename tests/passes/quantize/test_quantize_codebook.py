"""calibrate and quantize leave codebook weights as they are (they are already integers
with their own scale) and still quantize the activations around their convolutions."""
import numpy as np
import torch
from torch import nn

from qcompiler.frontends.fx import import_module
from qcompiler.ir import CodebookType, QuantType, verify
from qcompiler.passmanager import PassContext, run_pipeline


def test_codebook_weights_pass_through_calibrate_and_quantize():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    g = import_module(model.eval(), (torch.randn(1, 2, 6, 6),), dynamic_batch=True)
    run_pipeline(g, "codebook-quantize{index_bits=2}")
    (book,) = [n for n in g.nodes if isinstance(n.output.type, CodebookType)]
    before = dict(book.attrs), book.output.type
    x = np.random.default_rng(0).standard_normal((16, 2, 6, 6)).astype(np.float32)
    run_pipeline(g, "calibrate,quantize", PassContext(calibration=x))
    verify(g)
    assert (dict(book.attrs), book.output.type) == before  # no q.range, no integer re-encoding
    conv = book.output.users[0]
    assert "q.bits" not in conv.attrs
    assert isinstance(conv.inputs[0].type, QuantType) and isinstance(conv.output.type, QuantType)
    pointwise = next(n for n in g.nodes if n.op == "conv2d" and n is not conv)
    assert isinstance(pointwise.inputs[1].type, QuantType) and pointwise.attrs["q.bits"] == 8
