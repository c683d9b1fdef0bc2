"""bias-correct: fold the mean output shift that quantization causes into the bias.

For a conv / linear layer with quantized weights Q(W), the expected output moves by
E[(W - Q(W)) x] per output channel (Nagel et al., "Data-Free Quantization", empirical
bias correction). The layer's inputs x come from running the fake-quant graph on
calibration data (what the layer will see once deployed); the shift is measured before
any fused activation and added to the bias (a bias is created where there is none).
With `drift=true` the shift is the float model's mean output minus the quantized
graph's, layer by layer, so it also takes the drift of the layer's inputs (bias_drift.py).

The layer is linear in x, so only the mean input is needed (layer_input_mean.py): the
default form costs one streamed forward pass of the fake-quant graph (values freed after
their last reader, as in `calibrate`). With `drift=true`, fewer than `min_samples`
calibration samples keep every bias, with a note: each channel's shift is shrunk by its
standard error over the samples, but on 4 light-zoo images even the shrunk drift of deep
layers did not carry over to other images (Inception v2 and ShuffleNet lost 0.2 and 1.5 dB),
on 16 it did. The standard error is per sample, so a classifier that sees one position
per sample is corrected like a conv. (The weight error alone is measured against the
mean input, which few samples already give well.)

It needs the float weights, which `quantize` keeps in the weight constant's meta cache:
run it in the same pipeline, after `quantize`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
from threadpoolctl import threadpool_limits

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import QuantType, numpy_dtype
from qcompiler.numerics.affine import dequantize
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.runtime.reference import as_float, release_plan, stream_graph

from ..calibration.data import MemoryBoundBatches, calibration_batches
from .bias_drift import drift_shifts, single_samples
from .errors import QuantizeError
from .layer_input_mean import LayerInputMean

LAYERS = ("conv1d", "conv2d", "conv_transpose2d", "linear")


@register_pass
@dataclass(frozen=True)
class BiasCorrect(Pass):
    """`samples` caps the calibration samples used (None: all), `batch` sizes the
    batches a whole array is cut into, `batch_mb` bounds the activations alive at once
    (the default form), `drift` also corrects the drift of each layer's inputs,
    `min_samples` is the fewest calibration samples the drift is trusted on."""

    name: ClassVar[str] = "bias-correct"
    samples: Optional[int] = 256
    batch: int = 32
    batch_mb: int = 128
    drift: bool = False
    min_samples: int = 16

    def __post_init__(self):
        for option in ("samples", "batch", "batch_mb", "min_samples"):
            value = getattr(self, option)
            if value is not None and value < 1:
                raise ValueError(f"{option} must be at least 1, got {value}")

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        layers = [n for n in graph.nodes if _quantized_layer(n)]
        if not layers:
            return PassResult(False, {"corrected": []})
        if ctx.calibration is None:
            raise QuantizeError("bias-correct needs calibration data: pass calibration=... (the same forms "
                                "calibrate accepts)")
        for node in layers:  # before the run: a missing cache costs no time
            _float_weight(node)
        batches, total = calibration_batches(ctx.calibration, graph, samples=self.samples, batch=self.batch)
        corrected = []

        def apply(node: Node, shift: np.ndarray) -> None:
            _add_to_bias(graph, node, shift)
            corrected.append(node.outputs[0].name)

        # one BLAS thread, as in calibrate: the products are per sample and small
        with threadpool_limits(limits=1, user_api="blas"):
            if self.drift:
                samples = list(single_samples(graph, ctx.progress.iterate(batches, desc="bias-correct",
                                                                          total=total)))
                count = len(samples)
                if count < self.min_samples:
                    ctx.note(f"bias-correct: drift correction skipped, every bias kept: {count} calibration "
                             f"samples, fewer than min_samples={self.min_samples} (the drift measured on so few "
                             "does not carry over to other inputs); give more samples")
                    return PassResult(False, {"corrected": [], "samples": count})
                drift_shifts(graph, layers, samples, apply)
            else:
                self._correct_weight_error(graph, layers, batches, total, ctx, apply)
        return PassResult(bool(corrected), {"corrected": corrected})

    def _correct_weight_error(self, graph: Graph, layers: list, batches, total, ctx, apply) -> None:
        inputs = {id(n.inputs[0]): LayerInputMean() for n in layers}
        plan, chunks = release_plan(graph), MemoryBoundBatches(graph, self.batch_mb << 20)

        def observe(v, a):
            if id(v) in inputs:
                inputs[id(v)].add(as_float(a, v.type))

        for arrays in ctx.progress.iterate(batches, desc="bias-correct", total=total):
            for chunk in chunks.split(arrays):
                chunks.record(chunk, stream_graph(graph, chunk, observe, plan).peak_bytes)
        for node in layers:
            apply(node, inputs[id(node.inputs[0])].mean_output(node, _weight_error(node)))


def _quantized_layer(node: Node) -> bool:
    """A conv / linear with a quantized constant weight and a constant bias, if any, not
    corrected yet (the weight error is the same on a second run: adding it again doubles it)."""
    if node.op not in LAYERS or len(node.inputs) < 2 or not isinstance(node.inputs[1].type, QuantType):
        return False
    if node.attrs.get("q.bias_corrected"):
        return False
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    return all(v is None or (v.producer is not None and v.producer.op == "const") for v in (node.inputs[1], bias))


def _float_weight(node: Node) -> np.ndarray:
    """The float weight quantize kept in the weight constant's meta cache."""
    w = node.inputs[1]
    original = w.producer.meta.get("float_value")
    if original is None:
        raise QuantizeError(f"bias-correct: weight %{w.name} of {node.label()} is quantized, but its float "
                            "values are gone (quantize keeps them in a cache that only lives within one "
                            "pipeline): run bias-correct right after quantize, in the same pipeline")
    return original


def _weight_error(node: Node) -> np.ndarray:
    """W - Q(W): the float weight minus the dequantized stored integers (float64, made one
    layer at a time: for every layer at once it would double a large model's memory)."""
    w = node.inputs[1]
    return _float_weight(node).astype(np.float64) - dequantize(w.producer.attrs["value"].array, w.type)


def _add_to_bias(graph: Graph, node: Node, shift: np.ndarray) -> None:
    dtype = numpy_dtype(plain(node.outputs[0].type).dtype)
    old = node.inputs[2] if len(node.inputs) > 2 else None
    base = graph.const_value(old) if old is not None else np.zeros(shift.shape, dtype)
    origin = old.producer.attrs.get("origin") if old is not None else None
    bias = graph.constant((base.astype(np.float64) + shift).astype(dtype), name=f"{node.outputs[0].name}_bias",
                          origin=origin)
    node.set_inputs([node.inputs[0], node.inputs[1], bias])
    if old is not None and not old.uses and not any(o is old for o in graph.outputs):
        graph.erase(old.producer)
    node.attrs["q.bias_corrected"] = True
