"""Synthetic calibration data as a lazy source in `PassContext.calibration`.

`SyntheticCalibration` holds a copy of the float graph taken before fold-bn, the
generator to use and the number of samples. `calibration_batches`
(passes/calibration/data.py) asks it for its arrays the first time a pass reads
calibration data, so calibrate, bias-correct, sensitivity and adaround all see the same
samples, made once. `qcompiler.compile(model, calibration="synthetic")` puts one in the
context (api.py); `calibrate{data=synthetic, synthetic=zeroq|cgan, samples=N}` configures
it, or makes one from the graph it sees when that still has its batch norms.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np
import torch

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph

from .cgan import CGANOptions, cgan_samples
from .errors import DataFreeError
from .probe import FloatProbe
from .shapes import input_shapes
from .statistics import batch_norm_targets
from .zeroq import ZeroQOptions, zeroq_samples

GENERATORS = ("zeroq", "cgan")
DEFAULT_SAMPLES = 64


@dataclass(frozen=True, eq=False)
class SyntheticCalibration:
    graph: Graph  # the float graph with its batch norms (never changed)
    generator: str = "zeroq"
    samples: int = DEFAULT_SAMPLES
    seed: int = 0
    example_inputs: Any = None
    progress: Any = None
    options: Any = None  # ZeroQOptions / CGANOptions; None: the generator's defaults
    _made: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        if self.generator not in GENERATORS:
            raise DataFreeError(f"unknown synthetic generator {self.generator!r}; expected one of "
                                f"{', '.join(GENERATORS)}")
        if self.samples < 1:
            raise DataFreeError(f"synthetic samples must be at least 1, got {self.samples}")

    def configured(self, generator: str, samples: Optional[int]) -> "SyntheticCalibration":
        """The same model and seed with another generator or count; samples already made
        for that setting are kept."""
        if generator == self.generator and (samples is None or samples == self.samples):
            return self
        options = self.options if generator == self.generator else None
        return replace(self, generator=generator, samples=samples or self.samples, options=options, _made=self._made)

    def calibration_arrays(self, graph: Graph) -> dict:
        """input name -> samples, made on the first call (the hook of calibration_batches);
        a smaller count of the same generator takes the first samples already made."""
        key = (self.generator, self.options)
        if key not in self._made or len(self._made[key][0]) < self.samples:
            self._made[key] = self._make()
        return {v.name: a[:self.samples] for v, a in zip(self.graph.inputs, self._made[key])}

    def _make(self) -> list[np.ndarray]:
        options = self.options or (ZeroQOptions() if self.generator == "zeroq" else CGANOptions())
        probe = FloatProbe(self.graph, with_logits=self.generator == "cgan")
        shapes = input_shapes(self.graph, min(options.batch, self.samples), self.example_inputs)
        make = zeroq_samples if self.generator == "zeroq" else cgan_samples
        with _one_torch_thread():
            return make(probe, shapes, self.samples, self.seed, options, self.progress)


@contextmanager
def _one_torch_thread():
    """Small convolutions, thousands of steps: a second thread's synchronisation costs more
    than it saves, and on the shared 2-core machine under load 100 ZeroQ steps on a one-
    conv graph took 8.5 s with two threads, 0.6 s with one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def check_data_options(data: str, generator: str) -> None:
    """The calibrate pass's `data` and `synthetic` options."""
    if data not in ("given", "synthetic") or generator not in GENERATORS:
        raise ValueError(f"data={data!r}, synthetic={generator!r}: expected data=given|synthetic, "
                         f"synthetic={'|'.join(GENERATORS)}")


def synthetic_source(calibration: Any, graph: Graph, passes, *, seed: int = 0, example_inputs: Any = None,
                     progress: Any = None) -> Any:
    """What `compile` puts in the context: a SyntheticCalibration on a copy of the
    imported graph when `calibration="synthetic"`, or when no data is given and the
    pipeline's calibrate asks for `data=synthetic`; else `calibration` unchanged."""
    asked = any(getattr(p, "data", None) == "synthetic" for p in passes)
    if isinstance(calibration, str):
        if calibration != "synthetic":
            raise DataFreeError(f"calibration={calibration!r}: the only named source is 'synthetic'")
    elif calibration is not None or not asked:
        return calibration
    batch_norm_targets(graph)  # no statistics: say so before any pass runs
    return SyntheticCalibration(clone(graph), seed=seed, example_inputs=example_inputs, progress=progress)


def synthetic_for_pass(ctx, graph: Graph, generator: str, samples: Optional[int]) -> SyntheticCalibration:
    """The source `calibrate{data=synthetic}` reads, also left in `ctx.calibration` when
    that held nothing or synthetic data, so later passes read the same samples."""
    if isinstance(ctx.calibration, SyntheticCalibration):
        source = ctx.calibration.configured(generator, samples)
    elif any(n.op == "batch_norm" for n in graph.nodes):
        source = SyntheticCalibration(clone(graph), generator, samples or DEFAULT_SAMPLES, ctx.seed,
                                      ctx.example_inputs, ctx.progress)
    else:
        raise DataFreeError(f"calibrate{{data=synthetic}}: graph @{graph.name} has no batch_norm left to read "
                            "statistics from (fold-bn ran before calibrate); use qcompiler.compile(..., "
                            "calibration='synthetic'), which keeps them from the imported model")
    if ctx.calibration is None or isinstance(ctx.calibration, SyntheticCalibration):
        ctx.calibration = source
    return source
