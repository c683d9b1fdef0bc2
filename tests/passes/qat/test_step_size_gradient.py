"""LSQ's step-size gradient: autograd through learned_fake_quantize equals the paper's
formula (Esser et al. 2020, eq. 3 times the gradient scale g)."""
import math

import torch

from qcompiler.runtime.fake_quant import fake_quantize, learned_fake_quantize


def test_step_size_gradient_is_the_lsq_formula():
    x = torch.tensor([-3.0, -0.26, -0.1, 0.0, 0.12, 0.37, 0.5, 0.9, 2.5], requires_grad=True)
    s = torch.tensor(0.2, requires_grad=True)
    zp, qmin, qmax = torch.tensor(0.0), -8, 7
    g = 1.0 / math.sqrt(x.numel() * qmax)
    upstream = torch.linspace(0.5, 1.5, x.numel())
    (learned_fake_quantize(x, s, zp, qmin, qmax, g) * upstream).sum().backward()
    v = x.detach() / 0.2
    expected_step = torch.where(v <= qmin, float(qmin), torch.where(v >= qmax, float(qmax), torch.round(v) - v))
    assert torch.allclose(s.grad, (upstream * expected_step).sum() * g, atol=1e-6)
    inside = ((v >= qmin) & (v <= qmax)).float()
    assert torch.equal(x.grad, upstream * inside)


def test_forward_equals_the_fixed_fake_quantize_per_channel():
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0)) * 2
    s = torch.tensor([[0.1], [0.3], [0.05]], requires_grad=True)
    zp = torch.zeros(3, 1)
    learned = learned_fake_quantize(x, s, zp, -2, 1, 1.0)
    assert torch.equal(learned, fake_quantize(x, s.detach(), zp, -2, 1))
    learned.sum().backward()
    assert s.grad.shape == (3, 1)
