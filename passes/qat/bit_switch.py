"""Changing the width of a weight's fake-quantizer in place, during training (QBitOpt,
BMPQ), and what its step size becomes.

A learned step is only meaningful for the width it was learned at: the same step at 4
bits instead of 8 clips everything beyond 7 steps. The new step is, per channel, the one
of least squared weight error ‖Q_b(W) − W‖² among the learned clipping range carried
over (s · qmax_old / qmax_new) and fractions α ∈ [0.2, 1] of the channel's largest
magnitude over qmax_new (the MSE range search quantize's `calibrate{method=mse}` does):
going down, the carried-over range is usually too wide for the fewer levels; going back
up, a range learned at few levels is usually too narrow. The sensitivities score each
width at exactly the step switching to it would give (`candidate_step`), so the allocator
judges the quantizer the layer would really get.

Weights are symmetric here (zero point 0, as quantize stores them on every target);
a weight with another zero point is refused by name.
"""
from __future__ import annotations

import math

import torch

from qcompiler.ir.types import STORAGE_RANGES

from ..quantize.choices import WEIGHT_STORAGE, weight_levels
from .errors import QATError
from .step_sizes import StepSize

_FRACTIONS = torch.linspace(0.2, 1.0, 17)


def integer_range(bits: int, reduce_range: bool) -> tuple:
    """(qmin, qmax) of `bits`-bit weights in their container; x86-avx2's reduced 7-bit range at 8 bits."""
    if bits not in WEIGHT_STORAGE or bits == 1:
        raise QATError(f"qat: weight width {bits} cannot be switched to during training; widths: "
                       f"{sorted(b for b in WEIGHT_STORAGE if b > 1)}")
    qrange, _ = weight_levels(bits, WEIGHT_STORAGE[bits], reduce_range)
    return qrange or STORAGE_RANGES[WEIGHT_STORAGE[bits]]


def check_symmetric(step: StepSize, name: str) -> None:
    if bool(step.zero_point.ne(0).any()):
        raise QATError(f"qat: weight %{name} has a non-zero zero point; bit reallocation during training switches "
                       "symmetric weights only (quantize with symmetric weights)")


def candidate_step(array: torch.Tensor, step: StepSize, qmin: int, qmax: int) -> torch.Tensor:
    """The step `step` would take at the integer range [qmin, qmax], shaped like its scale."""
    with torch.no_grad():
        current = step.scale().detach()
        if (qmin, qmax) == (step.qmin, step.qmax):
            return current.clone()
        axis = [d for d, n in enumerate(current.shape) if n != 1]
        reduce = [d for d in range(array.dim()) if d not in axis]
        largest = array.abs().amax(dim=reduce, keepdim=True) if reduce else array.abs()
        largest = largest.reshape(current.shape).clamp_min(torch.finfo(torch.float32).tiny)
        candidates = [current * (step.qmax / qmax)] + [largest * (f / qmax) for f in _FRACTIONS]
        errors = [_squared_error(array, s, qmin, qmax, reduce) for s in candidates]
        best = torch.stack(errors).argmin(dim=0)
        return torch.stack(candidates).gather(0, best.unsqueeze(0)).squeeze(0)


def _squared_error(array: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int, reduce: list) -> torch.Tensor:
    snapped = torch.clamp(torch.round(array / scale), qmin, qmax) * scale
    error = (snapped - array).double().square()
    return error.sum(dim=reduce, keepdim=True) if reduce else error


def switch(step: StepSize, array: torch.Tensor, qmin: int, qmax: int, elements_per_step: int) -> None:
    """Set the quantizer to [qmin, qmax] with the step candidate_step chooses; LSQ's
    gradient scale g = 1/√(N·Qp) follows the new Qp."""
    new = candidate_step(array, step, qmin, qmax)
    with torch.no_grad():
        if step.method == "lsq":
            step.log_step.copy_(new.log())
        else:  # FAT: the new step is the new threshold, its factor starts again at 1
            step.calibrated.copy_(new)
            step.factor.fill_(1.0)
    step.qmin, step.qmax = qmin, qmax
    step.grad_scale = 1.0 / math.sqrt(elements_per_step * max(qmax, 1))
