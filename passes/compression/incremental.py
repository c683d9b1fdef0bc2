"""Incremental quantization with re-training (INQ / SLQ / MLQ), shared by `slq` and `mlq`.

For each bit level in turn, every weight gets a fixed integer grid; in each round a
growing fraction of it (`rounds`, ending at 1.0) is snapped to the grid and frozen, and
the float rest — with the layers' biases — is re-trained for `epochs` on the labelled
calibration data through the torch executor, so it learns to compensate for what was
quantized. Weights a `prune` left at zero (layers with `q.sparsity`) stay frozen at zero.
At the end the weight constants are QuantType constants storing integers, with `q.bits`
and `q.granularity` on their layers, as the quantize pass leaves them; their float
values stay in the constants' meta cache (`float_value`) like quantize's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.numerics.affine import fake_quantize, quantize
from qcompiler.passmanager import Pass, PassContext, PassResult
from qcompiler.targets import get_target

from ..quantize.choices import WEIGHT_STORAGE
from .errors import CompressionError, CompressionOptionError
from .labelled_data import labelled_batches
from .layers import Weight, layer_weights
from .quant_grid import GRANULARITIES, METHODS, ORDERS, freeze_more, weight_grid
from .retrain import Student, Trainer

LEVEL_BITS = (8, 4, 2)


@dataclass(frozen=True)
class IncrementalOptions(Pass):
    """The options slq and mlq share; each adds its bit widths."""

    rounds: tuple[float, ...] = (0.5, 0.75, 1.0)
    epochs: int = 2
    lr: float = 1e-3
    batch: int = 64
    order: str = "magnitude"
    method: str = "mse"
    granularity: str = "channel"

    def check_schedule(self) -> None:
        who, r = self.name, self.rounds
        fractions = all(not isinstance(f, bool) and isinstance(f, (int, float)) and 0.0 < f <= 1.0 for f in r)
        if not r or not fractions or any(a >= b for a, b in zip(r, r[1:])) or r[-1] != 1.0:
            raise CompressionOptionError(f"{who}: rounds={list(r)} must be increasing fractions in (0, 1] ending "
                                         "at 1.0")
        for option, value, minimum in (("epochs", self.epochs, 0), ("batch", self.batch, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise CompressionOptionError(f"{who}: {option}={value!r} must be an integer >= {minimum}")
        if not self.lr > 0:
            raise CompressionOptionError(f"{who}: lr={self.lr} must be > 0")
        for option, value, choices in (("order", self.order, ORDERS), ("method", self.method, METHODS),
                                       ("granularity", self.granularity, GRANULARITIES)):
            if value not in choices:
                raise CompressionOptionError(f"{who}: {option}='{value}' is not one of {', '.join(choices)}")


def check_bits(bits, who: str, what: str, error: type = CompressionOptionError) -> int:
    if isinstance(bits, bool) or bits not in LEVEL_BITS:
        raise error(f"{who}: {what} {bits!r} is not a weight width the grid can store; "
                    f"expected one of {', '.join(map(str, LEVEL_BITS))}")
    return int(bits)


def run_incremental(graph: Graph, ctx: PassContext, options: IncrementalOptions, levels_of: Callable) -> PassResult:
    """`levels_of(weight)` gives the bit levels a weight goes through, the last one final."""
    weights = layer_weights(graph)
    if not weights:
        ctx.note("no float conv/linear weights to quantize")
        return PassResult(False, {"layers": 0})
    levels = {w.value.name: levels_of(w) for w in weights}
    target = get_target(ctx.target or "generic")
    _check_target(weights, levels, target, options.name)
    student = Student(graph, weights, options.name)
    trainer = Trainer(student, labelled_batches(ctx.calibration, graph, options.batch, options.name), options.lr,
                      ctx.seed, options.name)
    history = [{"bits": None, "fraction": 0.0, "loss": trainer.loss()}]
    grids = {}
    for stage in range(max(len(v) for v in levels.values())):
        staged = {w.value.name: w for w in weights if stage < len(levels[w.value.name])}
        for name in staged:
            grids[name] = weight_grid(student.array(name), WEIGHT_STORAGE[levels[name][stage]], options.granularity,
                                      options.method, target.weight_symmetric)
        bits = sorted({levels[name][stage] for name in staged})
        history += _rounds(staged, grids, student, trainer, options, bits)
    for w in weights:
        _write_back(w, student, grids[w.value.name])
    return PassResult(True, {"layers": len(weights), "rounds": history})


def _check_target(weights: list, levels: dict, target, who: str) -> None:
    for w in weights:
        for node in w.layers:
            for bits in levels[w.value.name]:
                if not target.supports_weight(node.op, WEIGHT_STORAGE[bits]):
                    raise CompressionError(f"{who}: target '{target.name}' cannot run {WEIGHT_STORAGE[bits]} weights "
                                           f"in {node.label()}")


def _rounds(staged: dict, grids: dict, student: Student, trainer: Trainer, options: IncrementalOptions,
            bits: list) -> list:
    """The rounds of one bit level: freeze a growing part on the grid, re-train the rest."""
    frozen = {name: _kept_zeros(w, student.array(name)) for name, w in staged.items()}
    history = []
    for fraction in options.rounds:
        for name in staged:
            values = student.array(name)
            frozen[name] = freeze_more(values, frozen[name], fraction, grids[name], options.order)
            snapped = np.where(frozen[name], fake_quantize(values, grids[name]), values).astype(values.dtype)
            student.set_weight(name, snapped, frozen[name])
        entry = {"bits": bits, "fraction": fraction, "loss": trainer.loss()}
        if fraction < 1.0 and options.epochs:
            trainer.train(options.epochs)
            entry["loss_retrained"] = trainer.loss()
        history.append(entry)
    return history


def _kept_zeros(w: Weight, values: np.ndarray) -> np.ndarray:
    if any("q.sparsity" in node.attrs for node in w.layers):
        return values == 0
    return np.zeros(values.shape, bool)


def _write_back(w: Weight, student: Student, grid) -> None:
    const = w.const
    const.meta["float_value"] = const.attrs["value"].array  # for bias-correct, as quantize leaves it
    const.attrs["value"] = Dense(quantize(student.array(w.value.name), grid).astype(np.int8))
    w.value.type = grid
    for node in w.layers:
        node.attrs["q.bits"] = grid.bits
        node.attrs["q.granularity"] = "channel" if grid.axis is not None else "tensor"
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        if bias is not None and bias.name in student.params:
            old = bias.producer.attrs["value"].array
            bias.producer.attrs["value"] = Dense(student.array(bias.name).astype(old.dtype))
