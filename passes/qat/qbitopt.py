"""QBitOpt's sensitivity (Peters et al. 2023, "QBitOpt: Fast and Accurate Bitwidth
Reallocation during Training"): a Fisher-information estimate of the loss increase of
quantizing a layer's weights at width b, from gradients the training steps compute
anyway,

    score(b) = ½ Σ_i F_ii (Q_b(W) − W)_i²

with F the empirical Fisher diagonal of the fake-quantized weights (the mean of the
squared loss gradients ∂L/∂Q over the steps since the last reallocation,
gradient_tap.py) and Q_b(W) the weights quantized at width b with the step switching
to b would give (bit_switch.candidate_step): at the current width that is the learned
step, so the score sees what training has already absorbed.
"""
from __future__ import annotations

import torch


def qbitopt_scores(fisher: torch.Tensor, array: torch.Tensor, candidates: dict) -> dict:
    """`candidates`: b -> (step s_b, qmin, qmax); `array`: the float weights."""
    scores = {}
    for b, (scale, qmin, qmax) in candidates.items():
        error = torch.clamp(torch.round(array / scale), qmin, qmax) * scale - array
        scores[b] = 0.5 * float((fisher * error.double().square()).sum())
    return scores
