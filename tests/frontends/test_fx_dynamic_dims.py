"""The torch frontend's `dynamic_dims`: any input dim can stay symbolic (not only the
batch), through both capture paths, and sizes computed from it follow it at run time."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from fx_helpers import assert_faithful

from qcompiler.frontends.fx import import_module
from qcompiler.ir import FrontendError


class LineReader(nn.Module):
    """A text-line recognizer in miniature: a strided conv, columns as a sequence whose
    length follows the width, a per-column classifier, an upsample back to the width,
    and a resize to a fixed size."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8 * 4, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x))                          # [N, 8, 4, W/2]
        n, c, h, w = y.shape
        seq = self.head(y.permute(0, 3, 1, 2).reshape(n, w, c * h))  # [N, W/2, 10]
        wide = F.interpolate(seq[:, None], scale_factor=2.0)[:, 0]   # [N, W, 20]
        return wide, F.interpolate(y, size=(2, 5))


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_a_dynamic_width_runs_at_other_widths(capture):
    model = LineReader().eval()
    graph = import_module(model, torch.randn(1, 3, 8, 16), dynamic_dims={"x": {0: "N", 3: "W"}}, capture=capture)
    assert graph.inputs[0].type.shape == ("N", 3, 8, "W")
    # the sequence length is W/2 rounded up: a dim of its own, not W
    assert graph.outputs[0].type.shape[0] == "N" and graph.outputs[0].type.shape[1] not in ("W", 16, 32)
    assert graph.outputs[1].type.shape == ("N", 8, 2, 5)
    for shape in [(1, 3, 8, 16), (2, 3, 8, 22), (1, 3, 8, 41)]:
        assert_faithful(graph, model, (torch.randn(*shape),))


def test_dynamic_batch_is_the_dim_0_shortcut():
    model = LineReader().eval()
    x = torch.randn(2, 3, 8, 16)
    by_option = import_module(model, x, dynamic_batch=True)
    by_dims = import_module(model, x, dynamic_dims={0: {0: "N"}})
    assert by_option.inputs[0].type == by_dims.inputs[0].type and by_option.inputs[0].type.shape == ("N", 3, 8, 16)
    assert [v.type for v in by_option.outputs] == [v.type for v in by_dims.outputs]


def test_inputs_sharing_a_symbol_must_agree_on_its_size():
    class Pair(nn.Module):
        def forward(self, a, b):
            return a.sum(-1) + b.sum(-1)

    with pytest.raises(FrontendError, match="dim 'L' is 4 in one example input and 5 in input 1"):
        import_module(Pair(), (torch.randn(2, 4), torch.randn(2, 5)), dynamic_dims={"a": {1: "L"}, "b": {1: "L"}})


def test_a_dim_the_model_fixes_cannot_be_dynamic():
    class FixedWidth(nn.Module):
        def forward(self, x):
            return x + torch.ones(16)

    with pytest.raises(FrontendError, match=r"dim 'W' is dynamic, but the model fails when it grows \(inputs \[2, 32\]\)"):
        import_module(FixedWidth(), torch.randn(2, 16), dynamic_dims={"x": {1: "W"}})


def test_dynamic_dims_names_forward_arguments():
    with pytest.raises(FrontendError, match=r"dynamic_dims names input 'y', but LineReader takes 1 inputs \(x\)"):
        import_module(LineReader(), torch.randn(1, 3, 8, 16), dynamic_dims={"y": {3: "W"}})


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_a_causal_mask_follows_a_dynamic_sequence_length(capture):
    class Causal(nn.Module):
        def forward(self, x):  # [N, heads, L, depth]
            return F.scaled_dot_product_attention(x, x, x, is_causal=True)

    graph = import_module(Causal(), torch.randn(2, 2, 5, 4), dynamic_dims={"x": {2: "L"}}, capture=capture)
    for length in (5, 3, 9):
        assert_faithful(graph, Causal(), (torch.randn(2, 2, length, 4),))


def test_a_per_head_attention_mask_over_a_dynamic_sequence():
    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x, mask):  # mask: [N * heads, L, L], additive
            return self.mha(x, x, x, attn_mask=mask, need_weights=False)[0]

    model = SelfAttention().eval()
    graph = import_module(model, (torch.randn(2, 5, 8), torch.randn(4, 5, 5)),
                          dynamic_dims={"x": {1: "L"}, "mask": {1: "L", 2: "L"}})
    for length in (5, 7):
        assert_faithful(graph, model, (torch.randn(2, length, 8), torch.randn(4, length, length)))


@pytest.mark.parametrize("capture", ["fx", "export"])
def test_a_repeat_count_read_from_a_dynamic_dim(capture):
    class FirstColumnEverywhere(nn.Module):
        def forward(self, x):  # [N, L]
            return x[:, :1].repeat(1, x.size(1)) + x

    graph = import_module(FirstColumnEverywhere(), torch.randn(2, 5), dynamic_dims={"x": {1: "L"}}, capture=capture)
    for length in (5, 8):
        assert_faithful(graph, FirstColumnEverywhere(), (torch.randn(2, length),))
