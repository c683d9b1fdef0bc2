"""The mean input a conv / linear layer saw, and the mean output a weight makes of it.

A layer is linear in its input, so the mean over samples and positions of W x is W
applied once to the mean input (per input shape, padding included): bias-correct needs
one small product per layer instead of one per sample.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.ops.fused import FUSED_ACTIVATION_ATTRS
from qcompiler.ir.registry import run_reference


class LayerInputMean:
    """Running sum of a layer input over samples, per sample shape (calibration batches
    may differ in spatial size)."""

    def __init__(self):
        self.sums: dict = {}

    def add(self, x: np.ndarray) -> None:
        x = x.astype(np.float64)
        total, count = self.sums.get(x.shape[1:], (0.0, 0))
        self.sums[x.shape[1:]] = (total + x.sum(axis=0), count + x.shape[0])

    def mean_output(self, node: Node, weight: np.ndarray) -> np.ndarray:
        """The mean of `weight` applied to the input, without bias or fused activation, per
        output channel over every sample and position seen."""
        attrs = {k: v for k, v in node.attrs.items() if k not in FUSED_ACTIVATION_ATTRS}
        weighted, positions = 0.0, 0
        for total, count in self.sums.values():
            if node.op == "linear":
                y = _linear_in_float64((total / count)[None], weight)
            else:
                y = run_reference(node.op, [(total / count)[None], weight, None], attrs)[0]
            channels = np.moveaxis(y, 1 if node.op != "linear" else -1, 0)
            channels = channels.reshape(len(channels), -1)
            weighted = weighted + channels.sum(axis=1) * count
            positions += channels.shape[1] * count
        return weighted / max(positions, 1)


ROWS_AT_ONCE = 256


def _linear_in_float64(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """x @ weight.T in float64, a block of weight rows at a time: a whole float64 copy of a
    classifier's weight (VGG19's first fc: 0.8 GB) would set the compile's peak memory."""
    rows = [x @ weight[i:i + ROWS_AT_ONCE].astype(np.float64).T for i in range(0, len(weight), ROWS_AT_ONCE)]
    return np.concatenate(rows, axis=-1)


def sample_means(node: Node, inputs: list, weight: np.ndarray) -> np.ndarray:
    """Per sample of the batches `inputs`, about the mean over positions of `weight`
    applied to it (no bias): the channel means through the kernel's sum, which ignores
    the padded border and the stride's overlap (enough to compare samples with each other);
    (samples, output channels)."""
    if node.op == "linear":
        means = np.concatenate([a.reshape(a.shape[0], -1, a.shape[-1]).mean(axis=1) for a in inputs])
        return means @ weight.T
    means = np.concatenate([a.mean(axis=tuple(range(2, a.ndim))) for a in inputs])  # [samples, C_in]
    groups = node.attrs.get("groups") or 1
    taps = weight.sum(axis=tuple(range(2, weight.ndim)))  # conv [C_out, C_in/g], transposed [C_in, C_out/g]
    if node.op == "conv_transpose2d":
        taps = taps.reshape(groups, -1, taps.shape[1]).transpose(0, 2, 1)
    else:
        taps = taps.reshape(groups, -1, taps.shape[1])  # [g, C_out/g, C_in/g]
    per_group = means.reshape(len(means), groups, -1)
    return np.einsum("ngk,gok->ngo", per_group, taps).reshape(len(means), -1)
