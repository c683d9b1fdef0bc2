"""bias-correct: fold the mean output shift that weight quantization causes into the bias.

For a conv / linear layer with quantized weights Q(W), the expected output moves by
E[(W - Q(W)) x] per output channel (Nagel et al., "Data-Free Quantization", empirical
bias correction). The layer's inputs x come from running the fake-quant graph on
calibration data (what the layer will see once deployed); the shift is measured before
any fused activation and added to the bias (a bias is created where there is none).

It needs the float weights, which `quantize` keeps in the weight constant's meta cache:
run it in the same pipeline, after `quantize`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.ops.fused import FUSED_ACTIVATION_ATTRS
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.registry import run_reference
from qcompiler.ir.types import QuantType, numpy_dtype
from qcompiler.numerics.affine import dequantize
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.runtime.reference import as_float, bind_inputs, run_node

from ..calibration.data import calibration_batches
from .errors import QuantizeError

LAYERS = ("conv1d", "conv2d", "conv_transpose2d", "linear")


@register_pass
@dataclass(frozen=True)
class BiasCorrect(Pass):
    """`samples` caps the calibration samples used (None: all), `batch` sizes the
    batches a whole array is cut into."""

    name: ClassVar[str] = "bias-correct"
    samples: Optional[int] = 256
    batch: int = 32

    def __post_init__(self):
        if self.samples is not None and self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if self.batch < 1:
            raise ValueError(f"batch must be at least 1, got {self.batch}")

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        layers = [n for n in graph.nodes if _quantized_layer(n)]
        if not layers:
            return PassResult(False, {"corrected": []})
        if ctx.calibration is None:
            raise QuantizeError("bias-correct needs calibration data: pass calibration=... (the same forms "
                                "calibrate accepts)")
        errors = {id(n): _weight_error(n) for n in layers}
        sums = {id(n): 0.0 for n in layers}
        counts = {id(n): 0 for n in layers}
        batches, total = calibration_batches(ctx.calibration, graph, samples=self.samples, batch=self.batch)
        for arrays in ctx.progress.iterate(batches, desc="bias-correct", total=total):
            env = bind_inputs(graph, arrays)
            for node in graph.nodes:
                args = [env[id(v)] if v is not None else None for v in node.inputs]
                if id(node) in errors:
                    shift, n = _output_shift(node, as_float(args[0], node.inputs[0].type), errors[id(node)])
                    sums[id(node)] = sums[id(node)] + shift
                    counts[id(node)] += n
                for v, a in zip(node.outputs, run_node(node, args)):
                    env[id(v)] = np.asarray(a)
        for node in layers:
            _add_to_bias(graph, node, sums[id(node)] / max(counts[id(node)], 1))
        return PassResult(True, {"corrected": [n.outputs[0].name for n in layers]})


def _quantized_layer(node: Node) -> bool:
    """A conv / linear with a quantized constant weight and a constant bias, if any, not
    corrected yet (the weight error is the same on a second run: adding it again doubles it)."""
    if node.op not in LAYERS or len(node.inputs) < 2 or not isinstance(node.inputs[1].type, QuantType):
        return False
    if node.attrs.get("q.bias_corrected"):
        return False
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    return all(v is None or (v.producer is not None and v.producer.op == "const") for v in (node.inputs[1], bias))


def _weight_error(node: Node) -> np.ndarray:
    """W - Q(W): the float weight quantize kept, minus the dequantized stored integers."""
    w = node.inputs[1]
    const = w.producer
    original = const.meta.get("float_value")
    if original is None:
        raise QuantizeError(f"bias-correct: weight %{w.name} of {node.label()} is quantized, but its float "
                            "values are gone (quantize keeps them in a cache that only lives within one "
                            "pipeline): run bias-correct right after quantize, in the same pipeline")
    return (original.astype(np.float64) - dequantize(const.attrs["value"].array, w.type)).astype(np.float32)


def _output_shift(node: Node, x: np.ndarray, error: np.ndarray) -> tuple:
    """(sum over the batch and positions of (W - Q(W)) x per output channel, count)."""
    attrs = {k: v for k, v in node.attrs.items() if k not in FUSED_ACTIVATION_ATTRS}
    y = run_reference(node.op, [x, error, None], attrs)[0].astype(np.float64)
    channels = np.moveaxis(y, 1 if node.op != "linear" else -1, 0)
    return channels.reshape(channels.shape[0], -1).sum(axis=1), channels[0].size


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
