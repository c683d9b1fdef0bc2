"""BMPQ's bit-gradient sensitivity (Kundu et al. 2022, "BMPQ: Bit-Gradient Sensitivity-
Driven Mixed-Precision Quantization of DNNs from Scratch"), as `qat{bitopt=bmpq}`
accumulates it during training.

A b-bit signed weight is q = sign(q) · Σ_i 2^i β_i over its magnitude bit planes β_i
(i = 0 .. b−2), times the step s; the bit-gradient of plane i is the loss gradient with
respect to β_i, by the chain rule s · 2^i · sign(q) · ∂L/∂Q (`bit_plane_gradients`;
sign(0) counts as +, the positive plane of a sign-magnitude split). Its magnitude is
2^i times the least significant plane's, element by element, so per step size the
accumulated magnitudes of every plane follow from one number, the LSB bit-gradient
Σ s·|∂L/∂Q| over the step size's elements, summed over the training steps of an epoch
(passes/qat/gradient_tap.py).

The per-width score the ILP minimises: going to width b with step s_b drops (or adds)
the planes finer than s_b; the planes below s_b's LSB have bit-gradients summing to
that LSB's own (a geometric series: s_b / s times the current LSB's), and each flips
with probability ½ under rounding, so

    score(b) = ½ · Σ_c LSB_c · s_b,c / s_c

a first-order estimate of the loss change, over the step sizes c (channels) of the
layer. Our reading of the paper: the per-width form and the ½ are ours, so that the
scores feed the existing allocation ILP (passes/allocation/ilp.py) as they are.
"""
from __future__ import annotations

import torch


def bit_plane_gradients(grad_q: torch.Tensor, integers: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """∂L/∂β_i for the magnitude planes i = 0 .. bits−2 of each weight: shape [bits−1, *weight shape]."""
    sign = torch.where(integers < 0, -1.0, 1.0).to(grad_q.dtype)
    planes = torch.tensor([2.0 ** i for i in range(bits - 1)], dtype=grad_q.dtype)
    return planes.reshape((-1,) + (1,) * grad_q.dim()) * (scale * sign * grad_q).unsqueeze(0)


def plane_magnitudes(lsb_gradient: torch.Tensor, bits: int) -> list:
    """The accumulated bit-gradient magnitude of every magnitude plane, LSB first."""
    total = float(lsb_gradient.sum())
    return [total * 2.0 ** i for i in range(bits - 1)]


def bmpq_scores(lsb_gradient: torch.Tensor, scale: torch.Tensor, candidate_scales: dict) -> dict:
    """Per width b, ½ Σ_c LSB_c · s_b,c / s_c (`candidate_scales`: b -> s_b, shaped like `scale`)."""
    return {b: 0.5 * float((lsb_gradient * (s_b.double() / scale.double())).sum())
            for b, s_b in candidate_scales.items()}
