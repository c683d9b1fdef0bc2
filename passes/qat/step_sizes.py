"""The trainable quantization parameters of one quantized value (or one tie group of
values sharing a type).

- LSQ (Esser et al. 2020, "Learned Step Size Quantization"): the step size is learned
  as log s (s = exp(log s)), initialised with the calibrated scale; the gradient of s is
  the paper's, scaled by g = 1/sqrt(N * Qp) (N elements per step size, Qp the positive
  integer levels), and autograd's chain rule gives d/dlog s = s * dL/ds. The log domain
  is for Adam, which moves a parameter by about lr whatever its gradient: on s that is
  lr in absolute terms (10% a step for a 1e-2 weight step at lr 1e-3, which collapsed
  training), on log s it is a relative change of about lr for every step size alike.
  It also keeps s > 0 without a clamp.
- FAT (Goncharenko et al. 2019, "Fast Adjustable Threshold For Uniform Neural Network
  Quantization"): the calibrated threshold stays and a factor α in [0.5, 1] scales it,
  s = s_calibrated * α; α starts at 1 (the calibrated range) and is projected back into
  its bounds after every step, as the paper clips it.

The zero point stays what quantize chose (an integer), so the learned scale is the only
number that changes in the value's type, and lowering applies unchanged.
"""
from __future__ import annotations

import math

import torch

from qcompiler.ir.types import QuantType
from qcompiler.runtime.fake_quant import learned_fake_quantize, quant_params

FAT_BOUNDS = (0.5, 1.0)


class StepSize(torch.nn.Module):
    def __init__(self, t: QuantType, shape: tuple, method: str, per_step_elements: int):
        super().__init__()
        scale, zero_point = quant_params(t)
        view = [1] * len(shape)
        if t.axis is not None:
            view[t.axis % len(shape)] = -1
        scale, zero_point = scale.reshape(view), zero_point.reshape(view)
        self.method, self.qmin, self.qmax = method, t.qmin, t.qmax
        self.register_buffer("zero_point", zero_point)
        positive_levels = max(float((t.qmax - zero_point).max()), 1.0)
        self.grad_scale = 1.0 / math.sqrt(per_step_elements * positive_levels)
        if method == "lsq":
            self.log_step = torch.nn.Parameter(scale.clone().log())
        else:
            self.register_buffer("calibrated", scale.clone())
            self.factor = torch.nn.Parameter(torch.ones_like(scale))

    def scale(self) -> torch.Tensor:
        return self.log_step.exp() if self.method == "lsq" else self.calibrated * self.factor

    def project(self) -> None:
        """Back into the allowed set after an optimizer step."""
        if self.method == "fat":
            with torch.no_grad():
                self.factor.clamp_(*FAT_BOUNDS)

    def learned_scale(self):
        """The scale as f32 numbers, per tensor (a scalar) or per channel (a vector)."""
        with torch.no_grad():
            return self.scale().detach().reshape(-1).numpy().astype("float32")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return learned_fake_quantize(x, self.scale(), self.zero_point, self.qmin, self.qmax, self.grad_scale)
