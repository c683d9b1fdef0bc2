"""HFP8 versions of nn.Linear and nn.Conv2d, and the conversion of a model to them.

Each layer casts its input and weight to E4M3 (per-tensor scales) and runs the product
through hfp8_linear (chunked accumulation, E5M2 gradients). Conv2d is that product over
unfolded patches, so its reduction (in_channels/groups x kernel area) is chunked the
same way. Bias is added in float32, as a GEMM epilogue would.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .fp8_casts import cast_forward
from .hfp8_linear import hfp8_linear


@dataclass(frozen=True)
class HFP8Numerics:
    """Resolved formats (None = float32) and chunk length of one simulation."""
    forward_format: object
    gradient_format: object
    accumulator: object
    chunk: int

    def cast(self, x: torch.Tensor) -> torch.Tensor:
        return cast_forward(x, self.forward_format) if self.forward_format is not None else x

    def product(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return hfp8_linear(self.cast(x), self.cast(weight), self.chunk, self.accumulator, self.gradient_format)


class HFP8Linear(nn.Module):
    def __init__(self, linear: nn.Linear, numerics: HFP8Numerics):
        super().__init__()
        self.weight, self.bias, self.numerics = linear.weight, linear.bias, numerics

    def forward(self, x):
        lead = x.shape[:-1]
        y = self.numerics.product(x.reshape(-1, x.shape[-1]), self.weight)
        y = y.reshape(*lead, -1)
        return y + self.bias if self.bias is not None else y


class HFP8Conv2d(nn.Module):
    def __init__(self, conv: nn.Conv2d, numerics: HFP8Numerics):
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"HFP8Conv2d: padding {conv.padding!r}/{conv.padding_mode!r} unsupported; "
                             "use integer zero padding")
        self.conv, self.numerics = conv, numerics

    def forward(self, x):
        c = self.conv
        n, _, h, w = x.shape
        kh, kw = c.kernel_size
        oh = (h + 2 * c.padding[0] - c.dilation[0] * (kh - 1) - 1) // c.stride[0] + 1
        ow = (w + 2 * c.padding[1] - c.dilation[1] * (kw - 1) - 1) // c.stride[1] + 1
        cols = nn.functional.unfold(x, c.kernel_size, c.dilation, c.padding, c.stride)  # [n, C*kh*kw, L]
        group_in = cols.shape[1] // c.groups
        group_out = c.out_channels // c.groups
        outs = []
        for g in range(c.groups):
            patches = cols[:, g * group_in:(g + 1) * group_in].transpose(1, 2).reshape(-1, group_in)
            weight = c.weight[g * group_out:(g + 1) * group_out].reshape(group_out, -1)
            outs.append(self.numerics.product(patches, weight).reshape(n, oh * ow, group_out))
        y = torch.cat(outs, dim=2).transpose(1, 2).reshape(n, c.out_channels, oh, ow)
        return y + c.bias.view(1, -1, 1, 1) if c.bias is not None else y


def convert_to_hfp8(model: nn.Module, numerics: HFP8Numerics) -> nn.Module:
    """Replace every nn.Linear and nn.Conv2d of `model` in place (parameters are shared)."""
    for name, child in model.named_children():
        if isinstance(child, nn.Linear):
            setattr(model, name, HFP8Linear(child, numerics))
        elif isinstance(child, nn.Conv2d):
            setattr(model, name, HFP8Conv2d(child, numerics))
        else:
            convert_to_hfp8(child, numerics)
    return model
