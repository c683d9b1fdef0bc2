"""LSQ's step-size gradient: autograd through learned_fake_quantize equals the paper's
formula (Esser et al. 2020, eq. 3 times the gradient scale g)."""
import math

import numpy as np
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


def _per_channel_weight_step():
    from qcompiler.ir.types import QuantType
    from qcompiler.passes.qat.step_sizes import StepSize

    scales = np.array([0.01, 0.2, 0.05], np.float32)  # per-channel steps two decades apart
    t = QuantType("i4", "f32", (3, 4), scales, np.zeros(3, np.int32), axis=0)
    return StepSize(t, (3, 4), "lsq", per_step_elements=4), scales


def test_log_step_gradient_is_the_chain_rule_of_the_lsq_formula():
    step, scales = _per_channel_weight_step()
    x = torch.tensor([[-0.2, -0.013, 0.004, 0.061], [-3.0, 0.33, 0.47, 2.5], [0.07, -0.12, 0.5, -0.024]])
    upstream = torch.linspace(0.5, 1.5, x.numel()).reshape(3, 4)
    (step(x) * upstream).sum().backward()
    s = torch.from_numpy(scales).reshape(3, 1)
    v = x / s
    lsq = torch.where(v <= -8, -8.0, torch.where(v >= 7, 7.0, torch.round(v) - v))
    g = 1.0 / math.sqrt(4 * 7)
    expected = s * (upstream * lsq).sum(1, keepdim=True) * g  # d/dlog s = s * dL/ds
    assert torch.allclose(step.log_step.grad, expected, atol=1e-7)
    assert torch.allclose(step.scale(), s)


def test_adam_moves_every_step_size_by_the_same_relative_amount():
    """The collapse at lr 1e-3: on s itself Adam moves a 0.01 step by 10% and a 0.2 step
    by 0.5%; on log s both move by about lr relatively."""
    step, scales = _per_channel_weight_step()
    optimizer = torch.optim.Adam(step.parameters(), lr=1e-3)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0)) * torch.from_numpy(scales).reshape(3, 1) * 3
    step(x).square().sum().backward()
    optimizer.step()
    relative = (step.scale().detach().reshape(-1) / torch.from_numpy(scales) - 1).abs()
    assert torch.all((relative > 0.5e-3) & (relative < 1.5e-3)), relative
