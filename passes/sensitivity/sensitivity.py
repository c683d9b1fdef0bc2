"""`sensitivity{metric=..., bits=[2,4,8], samples=256, batch=64, iterations=200, tol=0.05}`:
how much each quantizable layer's weights at each width would hurt, written as
`q.sens = {"2": ..., "4": ..., "8": ...}` on the layer's node for `allocate-bits`.

Metrics (one file each): hessian (HAWQ-V3, Hutchinson), fisher (empirical Fisher),
bit-gradient (gradients along the path to Q_b(W)), bmpq (BMPQ's bit-plane gradients,
bmpq_metric.py), orthogonality (OMPQ, no labels), sqnr (output
noise of each layer quantized alone). The loss is the task loss when the data carries
labels, else the KL to the float outputs (loss.py). `acts=[4,8]` (sqnr only) also
writes `q.sens_act` for the layer's input activation at those widths.
`iterations` and `tol` bound the Hutchinson probes; random draws are seeded by ctx.seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch

from qcompiler.ir.types import STORAGE_RANGES
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass

from ..calibration.symmetry import target_symmetry
from .bit_gradient import bit_gradient_scores
from .bmpq_metric import bmpq_metric_scores
from .data import sensitivity_batches
from .errors import SensitivityError
from .fisher import fisher_scores
from .hessian import hessian_scores
from .layers import quantizable_layers, weight_bit_widths
from .measurement import Measurement
from .orthogonality import orthogonality_scores
from .sqnr import activation_scores, sqnr_scores
from .torch_model import TorchModel, opaque_nodes

METRICS = {"hessian": hessian_scores, "fisher": fisher_scores, "bit-gradient": bit_gradient_scores,
           "bmpq": bmpq_metric_scores, "orthogonality": orthogonality_scores, "sqnr": sqnr_scores}
NEEDS_GRADIENTS = ("hessian", "fisher", "bit-gradient", "bmpq")


@register_pass
@dataclass(frozen=True)
class Sensitivity(Pass):
    name: ClassVar[str] = "sensitivity"
    metric: str = "hessian"
    bits: tuple[int, ...] = (2, 4, 8)
    acts: Optional[tuple[int, ...]] = None
    samples: int = 256
    batch: int = 64
    iterations: int = 200
    tol: float = 0.05

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; expected one of {', '.join(METRICS)}")
        widths = weight_bit_widths()
        if not self.bits or any(b not in widths for b in self.bits):
            raise ValueError(f"bits={list(self.bits)}: weight widths must be among {widths}")
        if self.acts is not None:
            object.__setattr__(self, "acts", tuple(self.acts))  # a pipeline string gives a list
            if self.metric != "sqnr":
                raise ValueError(f"acts: activation sensitivity is measured by metric=sqnr, not {self.metric}")
            if not self.acts or any(a < 2 or f"u{a}" not in STORAGE_RANGES for a in self.acts):
                raise ValueError(f"acts={list(self.acts)}: activation widths must have an integer storage type "
                                 f"({sorted(s for s in STORAGE_RANGES if s.startswith('u'))})")
        for option in ("samples", "batch", "iterations"):
            if getattr(self, option) < 1:
                raise ValueError(f"{option} must be at least 1, got {getattr(self, option)}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")

    def run(self, graph, ctx: PassContext) -> PassResult:
        layers = quantizable_layers(graph)
        if not layers:
            ctx.note("no layer with constant float weights: nothing to measure")
            return PassResult(False, {"layers": 0})
        if self.metric in NEEDS_GRADIENTS and opaque_nodes(graph):
            node = opaque_nodes(graph)[0]
            raise SensitivityError(f"metric={self.metric} differentiates the graph, but {node.label()} runs in "
                                   "onnxruntime without gradients; use metric=sqnr or metric=orthogonality")
        weight_symmetric, activation_symmetric = target_symmetry(ctx)
        m = Measurement(graph, layers, TorchModel(graph, layers), sensitivity_batches(ctx, graph, self.samples, self.batch),
                        tuple(self.bits), weight_symmetric, activation_symmetric,
                        torch.Generator().manual_seed(ctx.seed), self.iterations, self.tol)
        scores, stats = METRICS[self.metric](m)
        _write(layers, scores, "q.sens")
        if self.acts:
            _write(layers, activation_scores(m, self.acts), "q.sens_act")
        return PassResult(True, {"layers": len(layers), "samples": m.samples, **stats})


def _write(layers: list, scores: dict, attr: str) -> None:
    for layer in layers:
        bad = {b: s for b, s in scores[layer.name].items() if not math.isfinite(s)}
        if bad:
            raise SensitivityError(f"{layer.node.label()}: sensitivity {bad} is not finite")
    for layer in layers:
        layer.node.attrs[attr] = {str(b): float(s) for b, s in scores[layer.name].items()}
