"""HFP8 layers: E4M3 operands, E5M2 gradients, and the float product when every format is fp32."""
import numpy as np
import torch
from torch import nn

from qcompiler.numerics.minifloat import positive_values
from qcompiler.training.hfp8 import HFP8Conv2d, HFP8Linear, make_numerics, resolve_format
from qcompiler.training.hfp8.hfp8_linear import hfp8_linear

E5M2 = resolve_format("e5m2", "test")


def _on_scaled_grid(t: torch.Tensor, fmt) -> bool:
    scale = t.abs().max().double() / fmt.max_value
    values = torch.from_numpy(np.array(positive_values(fmt)))
    ratio = (t.double().abs() / scale).reshape(-1)
    above = torch.searchsorted(values, ratio).clamp(max=len(values) - 1)
    distance = torch.minimum((values[above] - ratio).abs(), (values[(above - 1).clamp(min=0)] - ratio).abs())
    return bool(torch.all(distance <= 1e-6 * (ratio + 1)))  # float32 storage


def test_gradient_reaching_the_product_is_e5m2_times_scale():
    x = torch.randn(6, 5, requires_grad=True)
    identity = torch.eye(5)
    upstream = torch.randn(6, 5, generator=torch.Generator().manual_seed(1)) * 1e-3
    hfp8_linear(x, identity, 64, None, E5M2).backward(upstream)
    # grad_x = g @ I: exactly the rounded gradient
    assert _on_scaled_grid(x.grad, E5M2)
    assert not _on_scaled_grid(upstream, E5M2)
    assert float((x.grad - upstream).abs().max()) <= 0.125 * float(upstream.abs().max())  # 2 mantissa bits


def test_forward_operands_are_e4m3_times_scale():
    numerics = make_numerics(8, "fp32", forward="e4m3", gradients="fp32")
    x = torch.randn(4, 9)
    assert _on_scaled_grid(numerics.cast(x), resolve_format("e4m3", "test"))


def test_fp32_numerics_reproduce_linear_and_conv_with_gradients():
    numerics = make_numerics(7, "fp32", forward="fp32", gradients="fp32")
    torch.manual_seed(0)
    for float_layer, x in [(nn.Linear(20, 6), torch.randn(3, 20)),
                           (nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), torch.randn(2, 4, 9, 9))]:
        wrapped = HFP8Linear(float_layer, numerics) if isinstance(float_layer, nn.Linear) \
            else HFP8Conv2d(float_layer, numerics)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = float_layer(xa), wrapped(xb)
        assert float((ya - yb).detach().abs().max()) < 1e-5
        ya.square().sum().backward()
        grad_w = float_layer.weight.grad.clone()
        float_layer.weight.grad = None
        yb.square().sum().backward()
        assert float((xa.grad - xb.grad).abs().max()) < 1e-4
        assert float((grad_w - float_layer.weight.grad).abs().max()) < 1e-4
