"""The torch → catalog mapping, op by op: each case is a tiny module imported with fx
symbolic tracing and with torch.export (ATen spellings), then run by both executors."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from fx_helpers import assert_faithful, import_and_check



class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def x2():
    return torch.randn(4, 6)


def x3():
    return torch.randn(2, 5, 8)


def x4():
    return torch.randn(2, 3, 6, 6)


FUNCTIONAL = {
    "scalar_arith": (lambda x: (2 - x) * 3 + x / 4 - x ** 2 + torch.add(x, x, alpha=2), x2),
    "int_float_promotion": (lambda x: x + torch.arange(6) // 2, x2),
    "floor_div_and_trunc": (lambda x: torch.div(x, 0.3, rounding_mode="floor") + torch.div(x, 0.3, rounding_mode="trunc"), x2),
    "compare_where": (lambda x: torch.where(x > 0, x, x * 0.1) + (x <= 0.5).float() + (x != x[0]).float(), x2),
    "masked_fill": (lambda x: x.masked_fill(x < 0, -1.0), x2),
    "clamp": (lambda x: torch.clamp(x, -0.5, 0.5) + F.hardtanh(x) + F.relu6(x) + x.clamp(min=0.1), x2),
    "activations": (lambda x: torch.sigmoid(x) + torch.tanh(x) + F.gelu(x, approximate="tanh") + F.leaky_relu(x, 0.2)
                    + F.elu(x) + F.softplus(x, beta=2) + F.silu(x) + F.hardswish(x) + F.hardsigmoid(x), x2),
    "unary": (lambda x: torch.exp(-x.abs()) + torch.sqrt(x.abs() + 1) + torch.rsqrt(x.abs() + 1) + torch.log(x.abs() + 1)
              + torch.erf(x) + torch.floor(x) + torch.ceil(x) + torch.sin(x) + torch.cos(x) + torch.reciprocal(x.abs() + 1), x2),
    "view_by_size": (lambda x: x.view(x.size(0), -1), x4),
    "permute_transpose": (lambda x: x.permute(0, 2, 3, 1).transpose(1, 2).contiguous().reshape(x.size(0), -1, 3), x4),
    "squeeze_unsqueeze": (lambda x: x.unsqueeze(1).squeeze(1)[:, None].squeeze(1) + x[:1].squeeze().unsqueeze(0), x4),
    "index": (lambda x: x[:, 1:3, ..., None][..., 0] + x[:, 0:2, ::2, :].sum(-1, keepdim=True).mean(2, keepdim=True)
              + x[:, -1:], x4),
    "select_index_tensor": (lambda x: x[:, 0] + x[1, 2] + x[:, torch.tensor([2, 0])].sum(1), x4),
    "cat_stack": (lambda x: torch.cat([x, x * 2], dim=1).sum(1) + torch.stack([x, -x], 0).amax(0).sum(1), x4),
    "split_chunk_unbind": (lambda x: (torch.split(x, [1, 2], dim=1)[1], x.chunk(2, dim=-1)[0], x.unbind(1)[2]), x4),
    "reductions": (lambda x: (x.mean((2, 3)), x.sum(1, keepdim=True), x.amax(-1), torch.max(x, 1)[0], torch.min(x),
                              torch.max(x, -1, keepdim=True).values), x4),
    "arg_reductions": (lambda x: (x.argmax(1), torch.argmin(x, -1), x.argmax()), x4),
    "softmax": (lambda x: (F.softmax(x, -1), torch.log_softmax(x, 1), x.softmax(dim=0)), x3),
    "expand_repeat": (lambda x: x[:, :1].expand(-1, 4, -1, -1) + x.repeat(1, 2, 1, 1)[:, 1:5], x4),
    "matmul": (lambda x: (x @ x.transpose(-1, -2), torch.bmm(x, x.mT), x.mean(0) @ x[0].T), x3),
    "pad": (lambda x: F.pad(x, (1, 2, 0, 1)) + F.pad(x, (1, 2, 0, 1), mode="reflect") + F.pad(x, (1, 2, 0, 1), mode="replicate"), x4),
    "pools": (lambda x: (F.max_pool2d(x, 2), F.avg_pool2d(x, 3, 1, 1), F.adaptive_avg_pool2d(x, 1), F.adaptive_avg_pool2d(x, 3),
                         F.max_pool2d(x, 3, 2, 1, ceil_mode=True), F.avg_pool2d(x, 2, count_include_pad=False, ceil_mode=True)), x4),
    "interpolate": (lambda x: (F.interpolate(x, scale_factor=2), F.interpolate(x, size=(9, 9), mode="bilinear")), x4),
    "attention": (lambda x: F.scaled_dot_product_attention(x, x * 0.5, x, is_causal=True), x4),
    "layer_norm": (lambda x: F.layer_norm(x, (8,)) + F.layer_norm(x, (5, 8), torch.ones(5, 8), torch.zeros(5, 8)), x3),
    "in_place": (lambda x: x.clone().add_(1).relu_().mul_(2), x2),
    "constructors": (lambda x: x + torch.zeros_like(x) + torch.full((6,), 0.5) + torch.ones(x.shape[1])
                     + x.new_ones(x.shape) + torch.zeros(x.size(0), 6), x2),
}


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("capture", ["fx", "export"])
@pytest.mark.parametrize("case", sorted(FUNCTIONAL))
def test_functional(case, capture, dynamic):
    fn, make_input = FUNCTIONAL[case]
    torch.manual_seed(0)
    x = make_input()
    graph = import_and_check(Fn(fn), x, capture=capture, dynamic_batch=dynamic)
    if dynamic:
        assert_faithful(graph, Fn(fn), (torch.cat([x, x[:1]]),))


MODULES = {
    "conv1d_same_reflect": (lambda: nn.Conv1d(3, 4, 3, padding="same", padding_mode="reflect"), lambda: torch.randn(2, 3, 10)),
    "conv2d_dilated_grouped": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), lambda: torch.randn(2, 4, 9, 9)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), x4),
    "batch_norm1d": (lambda: nn.BatchNorm1d(6), x2),
    "prelu_upsample": (lambda: nn.Sequential(nn.PReLU(3), nn.Upsample(scale_factor=2)), x4),
    "pools_1d": (lambda: nn.Sequential(nn.MaxPool1d(2), nn.AvgPool1d(2, 1), nn.AdaptiveAvgPool1d(1)), x3),
    "activations": (lambda: nn.Sequential(nn.ELU(0.5), nn.LeakyReLU(0.3), nn.GELU(), nn.Softplus(), nn.Tanh(), nn.SiLU(),
                                          nn.Hardtanh(-0.5, 0.5), nn.Softmax(dim=1), nn.LogSoftmax(dim=-1)), x3),
    "global_max_pool_flatten": (lambda: nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Identity()), x4),
    "embedding": (lambda: nn.Embedding(10, 4), lambda: torch.tensor([[1, 2, 9], [0, 0, 3]])),
    "layer_norm_no_affine": (lambda: nn.LayerNorm(8, elementwise_affine=False), x3),
}


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("capture", ["fx", "export"])
@pytest.mark.parametrize("case", sorted(MODULES))
def test_module(case, capture, dynamic):
    make_module, make_input = MODULES[case]
    torch.manual_seed(0)
    module, x = make_module(), make_input()
    graph = import_and_check(module, x, capture=capture, dynamic_batch=dynamic)
    if dynamic:
        assert_faithful(graph, module, (torch.cat([x, x[:1]]),))


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_cross_with_masks_and_weights(batch_first):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 2, batch_first=batch_first, kdim=16, vdim=16)
    q, kv = torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    if not batch_first:
        q, kv = q.transpose(0, 1), kv.transpose(0, 1)
    padding = torch.tensor([[False, False, False, True], [False, False, False, False]])
    attn_mask = torch.zeros(3, 4, dtype=torch.bool)
    attn_mask[0, 1] = True

    class Cross(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, q, kv, padding, attn_mask):
            return self.mha(q, kv, kv, key_padding_mask=padding, attn_mask=attn_mask)

    graph = import_and_check(Cross(), q, kv, padding, attn_mask, tol=1e-4)
    assert graph.meta["captured_by"] == "fx"


def test_multihead_attention_separate_projections():
    torch.manual_seed(0)

    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(8, 2, kdim=6, vdim=4, batch_first=True)

        def forward(self, q, k, v, additive_mask):
            return self.mha(q, k, v, attn_mask=additive_mask, need_weights=False)[0]

    import_and_check(Attend(), torch.randn(2, 3, 8), torch.randn(2, 5, 6), torch.randn(2, 5, 4), -torch.rand(3, 5))
