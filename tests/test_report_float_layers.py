"""The report names every layer of a lowered graph that still computes in float and
why: the reason `lower` wrote (`q.float`), or that it was never quantized."""
import numpy as np
import torch.nn as nn

from qcompiler.api import compile


def test_float_layers_are_listed_with_their_reasons():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.Softmax(-1),
                          nn.LayerNorm(8)).eval()
    x = np.random.default_rng(0).uniform(0, 1, (16, 1, 8, 8)).astype(np.float32)
    rep = compile(model, "generic", calibration=x, progress=False).report()
    reasons = {r["op"]: r["float_reason"] for r in rep.rows if r["float_reason"]}
    assert reasons == {"softmax": "no integer kernel for softmax",
                       "layer_norm": "not quantized: its operands and result are float"}
    assert all(r["float_reason"] is None for r in rep.rows if r["op"] in ("qconv2d", "qlinear"))
    text = str(rep)
    assert "float layers after lower: 2" in text and "(softmax): no integer kernel for softmax" in text


def test_a_fake_quant_graph_lists_no_float_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()).eval()
    x = np.random.default_rng(0).uniform(0, 1, (8, 1, 8, 8)).astype(np.float32)
    rep = compile(model, "generic", calibration=x, pipeline="calibrate,quantize", progress=False).report()
    assert not rep.lowered and all(r["float_reason"] is None for r in rep.rows)
    assert "float layers after lower" not in str(rep)
