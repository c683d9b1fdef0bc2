"""Switching a weight quantizer's width in place: the new step is sensible at the new
width (least squared error among the carried-over range and the MSE search), both ways."""
import math

import numpy as np
import torch

from qcompiler.ir.types import QuantType
from qcompiler.passes.qat.bit_switch import candidate_step, switch
from qcompiler.passes.qat.step_sizes import StepSize
from qcompiler.passes.qat.train import restart_optimizer_state


def squared_error(w, scale, qmin, qmax) -> float:
    return float(((torch.clamp(torch.round(w / scale), qmin, qmax) * scale - w) ** 2).sum())


def test_switching_down_and_back_up_keeps_a_sensible_step():
    w = torch.randn(4, 64, generator=torch.Generator().manual_seed(0)) * torch.tensor([[0.1], [0.5], [1.0], [2.0]])
    largest = w.abs().amax(dim=1, keepdim=True)
    t = QuantType("i8", "f32", (4, 64), (largest / 127).reshape(-1).numpy(), np.zeros(4, np.int32), axis=0)
    step = StepSize(t, (4, 64), "lsq", 64)
    at_8 = squared_error(w, step.scale().detach(), -128, 127)
    carried = step.scale().detach() * 127  # the 8-bit range carried over to 2 bits (qmax 1)
    switch(step, w, -2, 1, 64)
    assert (step.qmin, step.qmax) == (-2, 1) and math.isclose(step.grad_scale, 1 / math.sqrt(64 * 1))
    at_2 = squared_error(w, step.scale().detach(), -2, 1)
    assert at_2 < 0.8 * squared_error(w, carried, -2, 1)
    # back to 8 bits: a range learned at 4 levels would clip; the step goes back to the whole range
    switch(step, w, -128, 127, 64)
    assert squared_error(w, step.scale().detach(), -128, 127) <= at_8 * 1.01
    # the step each width would get is what the sensitivities score
    assert torch.equal(candidate_step(w, step, -128, 127), step.scale().detach())


def test_a_switched_step_size_starts_adam_afresh():
    """After a width switch the step's Adam moments belong to the old width: the restart
    makes its next update the first update of a new parameter (lr times the gradient's sign)."""
    log_step = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.Adam([log_step], lr=0.1)
    for _ in range(5):  # moments built up by gradients of one sign
        optimizer.zero_grad()
        (-log_step.sum()).backward()
        optimizer.step()
    restart_optimizer_state(optimizer, [log_step])
    before = log_step.detach().clone()
    optimizer.zero_grad()
    (log_step.sum() * 1e-3).backward()  # the new width's gradient points the other way, and is small
    optimizer.step()
    torch.testing.assert_close(log_step.detach() - before, torch.full((3,), -0.1))


def test_a_fat_threshold_switched_to_a_new_width_is_that_width_s_step_with_its_factor_at_one():
    """FAT learns a factor on a calibrated threshold: after a switch the threshold is the
    new width's step and the factor starts again at 1, not at the old width's factor."""
    w = torch.randn(2, 64, generator=torch.Generator().manual_seed(1))
    t = QuantType("i8", "f32", (2, 64), (w.abs().amax(1) / 127).numpy(), np.zeros(2, np.int32), axis=0)
    step = StepSize(t, (2, 64), "fat", 64)
    with torch.no_grad():
        step.factor.fill_(0.6)
    expected = candidate_step(w, step, -8, 7)
    switch(step, w, -8, 7, 64)
    assert torch.equal(step.factor.detach(), torch.ones_like(step.factor))
    torch.testing.assert_close(step.scale().detach(), expected)
    carried = (w.abs().amax(1, keepdim=True) / 127) * 0.6 * 127 / 7
    assert squared_error(w, step.scale().detach(), -8, 7) < squared_error(w, carried, -8, 7)
