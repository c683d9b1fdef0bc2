"""BMPQ's bit-gradients: autograd through an explicit bit-plane decomposition, a case
worked by hand (signs and magnitudes), what the training-time tap accumulates, and the
per-width score."""
import numpy as np
import pytest
import torch

from qcompiler.ir.types import QuantType
from qcompiler.passes.qat.gradient_tap import GradientTap
from qcompiler.passes.qat.step_sizes import StepSize
from qcompiler.passes.sensitivity.bmpq import bit_plane_gradients, bmpq_scores, plane_magnitudes


def test_bit_plane_gradients_are_autograd_through_the_planes():
    generator = torch.Generator().manual_seed(0)
    bits = 4
    integers = torch.randint(-7, 8, (3, 5), generator=generator)
    scale = torch.tensor([[0.5], [0.1], [2.0]])
    upstream = torch.randn(3, 5, generator=generator)
    planes = [((integers.abs() >> i) & 1).float().requires_grad_(True) for i in range(bits - 1)]
    sign = torch.where(integers < 0, -1.0, 1.0)
    weights = scale * sign * sum(2.0 ** i * p for i, p in enumerate(planes))
    assert torch.equal(weights, scale * integers.float())  # the planes do spell the integers
    (upstream * weights).sum().backward()
    expected = torch.stack([p.grad for p in planes])
    assert torch.allclose(bit_plane_gradients(upstream, integers, scale, bits), expected, atol=1e-6)


def test_signs_and_magnitudes_of_a_case_worked_by_hand():
    # L = G · Q with Q = 0.5 · q: raising a set magnitude bit of +5 raises Q, of -3 lowers it
    q, scale, grad = torch.tensor([5, -3, 0]), torch.tensor(0.5), torch.tensor([1.0, 1.0, -2.0])
    got = bit_plane_gradients(grad, q, scale, bits=4)
    assert torch.allclose(got, torch.tensor([[0.5, -0.5, -1.0], [1.0, -1.0, -2.0], [2.0, -2.0, -4.0]]))


def test_the_tap_accumulates_the_lsb_bit_gradient_of_the_fake_quantized_weight():
    w = torch.tensor([[0.3, -0.7, 0.05], [1.2, -0.4, 0.9]])
    t = QuantType("i4", "f32", (2, 3), np.array([0.1, 0.2], np.float32), np.zeros(2, np.int32), axis=0)
    step = StepSize(t, (2, 3), "lsq", 3)
    tap = GradientTap({"w": step})
    c = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    for _ in range(2):  # two backward passes add up
        (c * step(w.clone().requires_grad_(True))).sum().backward()
    # 0.7 / 0.1 = 7 steps: inside the i4 range; 1.2 / 0.2 = 6: inside too
    expected = 2 * torch.tensor([[0.1 * 3.5], [0.2 * 4.0]], dtype=torch.float64)
    assert torch.allclose(tap.lsb_gradients["w"], expected)
    assert torch.allclose(tap.squares["w"], 2 * c.double() ** 2) and tap.passes["w"] == 2
    assert plane_magnitudes(tap.lsb_gradients["w"] / 2, 4) == pytest.approx([1.15, 2.3, 4.6])
    tap.remove()


def test_the_score_is_half_the_lsb_gradient_times_the_step_ratio():
    lsb = torch.tensor([[2.0], [6.0]], dtype=torch.float64)
    scale = torch.tensor([[0.1], [0.2]])
    scores = bmpq_scores(lsb, scale, {8: scale, 4: scale * 16, 2: scale * 64})
    assert scores == {8: 4.0, 4: 64.0, 2: 256.0}
