"""The loss gradient with respect to each fake-quantized weight Q (not the float weight:
the straight-through estimator zeroes the float weight's gradient where Q clips), read
during the training steps themselves, so the sensitivities bit reallocation needs cost
no extra forward or backward pass.

Per weight it sums, over the backward passes since the last `reset`:
- `squares`: G² element-wise (QBitOpt's empirical Fisher diagonal of Q, qbitopt.py);
- `lsb_gradients`: per step size (per channel or per tensor), Σ s·|G| over its elements,
  the magnitude of the loss gradient with respect to the least significant bit plane of
  the integer weights (BMPQ's bit-gradient, passes/sensitivity/bmpq.py);
and `passes`, the number of backward passes summed (BR-QAT's mixed models run each
quantizer more than once a step: each run counts).
"""
from __future__ import annotations

import torch


class GradientTap:
    def __init__(self, steps: dict):
        """`steps`: weight name -> its StepSize module."""
        self.steps = steps
        self.handles = [step.register_forward_hook(self._forward_hook(name)) for name, step in steps.items()]
        self.reset()

    def reset(self) -> None:
        self.squares: dict = {}
        self.lsb_gradients: dict = {}
        self.passes: dict = {name: 0 for name in self.steps}

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def _forward_hook(self, name: str):
        def hook(module, inputs, output):
            if output.requires_grad:
                scale = module.scale().detach()
                output.register_hook(lambda grad: self._record(name, grad.detach(), scale))
        return hook

    def _record(self, name: str, grad: torch.Tensor, scale: torch.Tensor) -> None:
        squares = grad.double().square()
        lsb = (grad.double().abs() * scale.double()).sum_to_size(scale.shape)
        self.squares[name] = self.squares[name] + squares if name in self.squares else squares
        self.lsb_gradients[name] = self.lsb_gradients[name] + lsb if name in self.lsb_gradients else lsb
        self.passes[name] += 1
