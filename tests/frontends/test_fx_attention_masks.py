"""Bool attention masks reach masked_softmax as bool: scaled_dot_product_attention with a
padding mask passes the default pipeline (no -inf tensor for calibrate to trip on, no
quantized value holding the mask), and its compiled model follows torch."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import qcompiler


class PaddedSelfAttention(nn.Module):
    def __init__(self, dim=16, heads=2):
        super().__init__()
        torch.manual_seed(0)
        self.qkv, self.out, self.heads = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim), heads

    def forward(self, x, keep):  # x [B, S, D], keep [B, S] bool: True for a token
        b, s, d = x.shape
        q, k, v = (t.reshape(b, s, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        return self.out(y.transpose(1, 2).reshape(b, s, d))


def padded(batch, seq, seed):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([seq] + [max(1, seq - 2 * i - 1) for i in range(1, batch)])
    return torch.randn(batch, seq, 16, generator=gen), torch.arange(seq)[None, :] < lengths[:, None]


def test_bool_mask_sdpa_compiles_with_the_default_pipeline_and_keeps_the_mask_bool():
    model = PaddedSelfAttention().eval()
    x, keep = padded(16, 8, seed=0)  # enough tokens that a new batch stays in the calibrated ranges
    cm = qcompiler.compile(model, target="x86-vnni", example_inputs=(x, keep),
                           calibration={"x": x.numpy(), "keep": keep.numpy()}, progress=False)
    softmaxes = [n for n in cm.graph.nodes if n.op in ("softmax", "masked_softmax")]
    assert [(n.op, n.attrs["fill"], n.inputs[1].type.dtype) for n in softmaxes] == [("masked_softmax", -np.inf, "bool")]
    assert not any(n.op == "where" for n in cm.graph.nodes)
    x2, keep2 = padded(3, 8, seed=1)
    with torch.no_grad():
        expected = model(x2, keep2).numpy()
    got = cm(x2.numpy(), keep2.numpy())
    error = np.linalg.norm(got - expected) / np.linalg.norm(expected)
    assert error < 0.05, error


def test_a_query_that_may_attend_to_nothing_gets_zeros_like_torch_sdpa():
    from qcompiler.frontends.fx import import_module
    from qcompiler.runtime.reference import run_graph

    class MaskedSdpa(nn.Module):
        def forward(self, q, keep):  # keep [L, S]: query 1 may attend to no key
            return F.scaled_dot_product_attention(q, q, q, attn_mask=keep)

    q = torch.randn(2, 2, 4, 8, generator=torch.Generator().manual_seed(0))
    keep = torch.tensor([[True, True, False, False], [False] * 4, [True] * 4, [False, True, True, False]])
    with torch.no_grad():
        expected = MaskedSdpa()(q, keep).numpy()
    assert (expected[:, :, 1] == 0).all()
    got = run_graph(import_module(MaskedSdpa(), (q, keep)), [q.numpy(), keep.numpy()])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
