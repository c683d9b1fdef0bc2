"""`calibrate`: run the float graph on calibration data and record the range of every
activation (docs/quantization.md, stage 1).

Batches stream through the numpy reference interpreter: each float value feeds its
observer as it is produced and is freed after its last reader, and batches are cut into
chunks whose live activations stay within `batch_mb` megabytes. Memory is that bound
plus op temporaries and fixed-size statistics, whatever the number of samples and the
depth of the graph. Results:
- node attrs `q.range = [lo, hi]` (a list of pairs on multi-output nodes, None for
  non-float results) and `q.method`; graph outputs and bounded functions (softmax,
  sigmoid, ...) keep their observed range under every method (range_policy.py);
- `graph.input_attrs[name]["q.range"]` for float graph inputs;
- weight constants of quantizable ops: `q.range` per output channel (calibrate-weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
from threadpoolctl import threadpool_limits

from qcompiler.ir.core import Graph
from qcompiler.ir.types import is_float
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.runtime.reference import release_plan, stream_graph

from ..datafree import check_data_options, synthetic_for_pass
from .activation_bits import planned_bits
from .attrs import range_attr
from .calibrate_weights import annotate_weight_ranges, check_percentile, check_weight_options
from .data import MemoryBoundBatches, calibration_batches
from .errors import CalibrationError
from .histogram import NonFiniteData
from .mse import MIN_GAIN_DB
from .observers import METHODS, make_observer
from .quant_error import signed_levels, storage_for_bits
from .range_policy import keeps_observed_range
from .symmetry import target_symmetry

# KL divergence needs a distribution; a weight is one fixed tensor, where MSE is exact
WEIGHT_METHOD_FOR = {"kl": "mse"}
# methods whose clipping range is searched for a storage width: a range searched for 4
# bits clips far more than 8-bit storage wants (min/max and percentile ranges do not depend on it)
WIDTH_DEPENDENT_METHODS = ("kl", "mse")
CALIBRATED_ACT_BITS = "calibrated_act_bits"  # ctx.options key: (method, bits) of the last calibrate
ACTIVATION_BITS = (8, 4, 2, 1)
# binary (b1) values are searched as 2-bit ones: the error searches (mse, kl) take 2 levels and up
SEARCHED_BITS = {1: 2}


@register_pass
@dataclass(frozen=True)
class Calibrate(Pass):
    """Observe activations on calibration data (`PassContext.calibration`); `samples`
    caps the number of samples, `batch` sizes the batches a whole array is cut into,
    `batch_mb` bounds the activations alive at once (batches run in smaller chunks)."""

    name: ClassVar[str] = "calibrate"
    method: str = "minmax"
    samples: Optional[int] = None
    percentile: float = 99.99
    bits: int = 8
    weight_bits: int = 8
    weight_method: Optional[str] = None
    granularity: str = "channel"
    batch: int = 32
    batch_mb: int = 128
    clip_gain_db: float = MIN_GAIN_DB  # mse keeps an activation's clip only if it gains this much (mse.py)
    data: str = "given"  # or "synthetic": made from the model's BatchNorm statistics (passes/datafree)
    synthetic: str = "zeroq"

    def __post_init__(self):
        check_data_options(self.data, self.synthetic)
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {', '.join(METHODS)}")
        check_weight_options(self.resolved_weight_method, self.granularity)
        check_percentile(self.percentile)
        if self.percentile != Calibrate.percentile and "percentile" not in (self.method, self.resolved_weight_method):
            raise ValueError(f"percentile={self.percentile:g} needs method=percentile (or weight_method=percentile); "
                             f"method={self.method} would ignore it")
        if self.clip_gain_db < 0:
            raise ValueError(f"clip_gain_db must be >= 0 (0: every clip mse finds is kept), got {self.clip_gain_db}")
        if self.clip_gain_db != Calibrate.clip_gain_db and self.method != "mse":
            raise ValueError(f"clip_gain_db={self.clip_gain_db:g} needs method=mse; method={self.method} would ignore it")
        if self.bits not in ACTIVATION_BITS:  # quantize{acts=} stores activations in u8, i8, u4, i4, u2, i2 or b1
            raise ValueError(f"bits={self.bits}: activations are stored in 8, 4, 2 or 1 bits (quantize{{acts=}}), "
                             f"so ranges are searched for those widths only")
        storage_for_bits(SEARCHED_BITS.get(self.bits, self.bits))
        signed_levels(self.weight_bits)  # weights keep narrower widths inside a storage (quantize{weights=i5})
        if self.samples is not None and self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if self.batch < 1:
            raise ValueError(f"batch must be at least 1, got {self.batch}")
        if self.batch_mb < 1:
            raise ValueError(f"batch_mb must be at least 1, got {self.batch_mb}")

    @property
    def resolved_weight_method(self) -> str:
        return self.weight_method or WEIGHT_METHOD_FOR.get(self.method, self.method)

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        synthetic = self.data == "synthetic"
        data = synthetic_for_pass(ctx, graph, self.synthetic, self.samples) if synthetic else ctx.calibration
        batches, total = calibration_batches(data, graph, samples=self.samples, batch=self.batch)
        # weights first: a NaN weight is reported as itself, not as the NaN activation it causes
        n_weights = annotate_weight_ranges(graph, ctx, method=self.resolved_weight_method, bits=self.weight_bits,
                                           granularity=self.granularity, percentile=self.percentile)
        watched = [v for v in graph.values() if is_float(v.type)
                   and (v.producer is None or v.producer.op != "const")]
        observers = {id(v): make_observer(self.method, percentile=self.percentile, min_gain_db=self.clip_gain_db)
                     for v in watched}
        # one BLAS thread: the interpreter's products are per sample and group (a few MFLOP),
        # where a second thread's synchronisation costs more than it saves; on the shared
        # 2-core bench machine two threads made rec calibration 3x slower (bench/RESULTS.md)
        with threadpool_limits(limits=1, user_api="blas"):
            n_batches, n_chunks = self._observe(graph, batches, total, observers, ctx)
        self._write_activation_ranges(graph, observers, target_symmetry(ctx)[1])
        if self.method in WIDTH_DEPENDENT_METHODS:  # quantize warns when it stores them at another width
            ctx.options[CALIBRATED_ACT_BITS] = (self.method, self.bits)
        return PassResult(True, {"batches": n_batches, "chunks": n_chunks, "activations": len(watched),
                                 "weights": n_weights})

    def _observe(self, graph: Graph, batches, total: Optional[int], observers: dict, ctx: PassContext) -> tuple:
        """Stream every batch, in memory-bound chunks, into the observers; (batches, chunks)."""
        plan, chunks = release_plan(graph), MemoryBoundBatches(graph, self.batch_mb << 20)
        n_batches = n_chunks = 0
        for k, arrays in enumerate(ctx.progress.iterate(batches, desc="calibrate", total=total)):
            def observe(v, a):
                observer = observers.get(id(v))
                if observer is None:
                    return
                try:  # inputs are checked as data
                    if not observer.checks_finite and v.producer is not None and not np.isfinite(a).all():
                        raise NonFiniteData
                    observer.update(a)
                except NonFiniteData:
                    bad = "NaN" if np.isnan(a).any() else "Inf"
                    raise CalibrationError(f"node {v.producer.label()} produced {bad} in %{v.name} "
                                           f"on calibration batch {k}") from None

            for chunk in chunks.split(arrays):
                chunks.record(chunk, stream_graph(graph, chunk, observe, plan).peak_bytes)
                n_chunks += 1
            n_batches += 1
        return n_batches, n_chunks

    def _write_activation_ranges(self, graph: Graph, observers: dict, symmetric: bool) -> None:
        """Each range searched for the width its value will be stored in (activation_bits.py);
        a width other than `bits` is recorded as `q.range_bits` where the method depends on it."""
        unclipped = keeps_observed_range(graph)
        widths = planned_bits(graph, self.bits)

        def observed(v):
            if id(v) not in observers:
                return None
            observer = observers[id(v)]
            bits = widths.get(id(v), self.bits)
            bits = SEARCHED_BITS.get(bits, bits)
            return range_attr(*(observer.observed() if id(v) in unclipped else observer.range(bits, symmetric)))

        def other_width(node):
            bits = {widths.get(id(v), self.bits) for v in node.outputs if id(v) in observers and id(v) not in unclipped}
            return bits.pop() if len(bits) == 1 and self.method in WIDTH_DEPENDENT_METHODS and \
                self.bits not in bits else None

        for v in graph.inputs:
            if id(v) in observers:
                graph.input_attrs.setdefault(v.name, {})["q.range"] = observed(v)
        for node in graph.nodes:
            pairs = [observed(v) for v in node.outputs]
            if all(p is None for p in pairs):
                continue
            node.attrs["q.range"] = pairs[0] if len(pairs) == 1 else pairs
            node.attrs["q.method"] = self.method
            range_bits = other_width(node)
            if range_bits is not None:
                node.attrs["q.range_bits"] = range_bits
