"""quantize to minifloats: `quantize{weights=e4m3, acts=e4m3}` (docs/minifloat.md).

Every layer that reads a weight (conv, linear, gemm, matmul) gets its weight stored as a
scaled minifloat (per output channel, or per tensor) and the activations it reads
rounded to a per-tensor scaled minifloat at their producer; every other op stays float,
the usual FP8 inference recipe. A constant keeps the float values it rounds to (the
executors and backends encode them: numerics/minifloat.py). A layer's `q.format`
(written by the allocator) overrides the pass's format for that layer; `q.keep_float`
keeps it float.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.dense import Dense
from qcompiler.ir.types import MinifloatType
from qcompiler.numerics.minifloat import fake_quantize, format_of
from qcompiler.passmanager import PassResult

from ..calibration.weight_operands import weight_uses
from .choices import QuantizeOptionError
from .errors import QuantizeError
from .keep_float import kept_float, mark_kept_float
from .minifloat_activations import activation_scales
from .minifloat_scales import SCALE_METHODS, row_scales
from .op_classes import activation_operands

# the pass's format names: FP8 E4M3 is OCP's "FN" (one NaN code), E5M2 IEEE-like, the
# 6- and 4-bit formats OCP MX's (every code finite)
FORMATS = {
    "e4m3": dict(format="e4m3", no_nan_inf=True),
    "e5m2": dict(format="e5m2"),
    "e3m2": dict(format="e3m2", finite=True),
    "e2m3": dict(format="e2m3", finite=True),
    "e2m1": dict(format="e2m1", finite=True),
}


def is_minifloat(name) -> bool:
    return name in FORMATS


def format_bits(name: str) -> int:
    return minifloat_type(name, "f32", (), 1.0).bits


def minifloat_type(name: str, expressed: str, shape, scale, axis=None) -> MinifloatType:
    return MinifloatType(expressed=expressed, shape=shape, scale=scale, axis=axis, **FORMATS[name])


def format_named(name: str):
    return format_of(minifloat_type(name, "f32", (), 1.0))


def check_options(weights: str, acts, granularity: str, method: str) -> None:
    if not is_minifloat(weights) or (acts is not None and not is_minifloat(acts)):
        raise QuantizeOptionError(f"quantize weights={weights}, acts={acts}: minifloat and integer types do not mix "
                                  f"in one pass; give both a minifloat format ({', '.join(FORMATS)}) or neither")
    if granularity not in ("tensor", "channel"):
        raise QuantizeOptionError(f"granularity '{granularity}': minifloat weights are scaled per tensor or channel")
    if method not in SCALE_METHODS:
        raise QuantizeOptionError(f"minifloat_scale='{method}' is not one of {', '.join(SCALE_METHODS)}")


def layer_format(node, default) -> str:
    if "q.bits" in node.attrs and "q.format" not in node.attrs:
        raise QuantizeError(f"node {node.label()} was given integer weights (q.bits={node.attrs['q.bits']}), but "
                            f"quantize runs minifloat formats: integer and minifloat layers do not mix in one graph")
    name = node.attrs.get("q.format", default)
    if not is_minifloat(name):
        raise QuantizeError(f"node {node.label()}: q.format = {name!r} is not a minifloat format "
                            f"({', '.join(FORMATS)})")
    return name


def quantize_minifloat(graph, ctx, weights, acts, granularity: str, method: str, only=None) -> PassResult:
    """`only`: ids of the layers to quantize (default: every layer not kept float); `weights`
    None when each of them carries its `q.format`."""
    kept = mark_kept_float(graph)
    uses = [use for use in weight_uses(graph) if not kept_float(use.consumer)
            and (only is None or id(use.consumer) in only)]
    weight_ids = {id(use.weight) for use in uses}
    values: dict = {}  # the activations layers read: id -> (value, format name, reader)
    for use in uses:
        name = layer_format(use.consumer, acts or weights)
        for _, v in activation_operands(graph, use.consumer, weight_ids):
            if graph.const_value(v) is None:
                values.setdefault(id(v), (v, name, use.consumer.label()))
    # before any rounding: the MSE search runs the float graph
    scales = activation_scales(graph, {k: (v, format_named(n), r) for k, (v, n, r) in values.items()}, method, ctx)
    done: set = set()
    for use in uses:
        if id(use.weight) not in done:
            done.add(id(use.weight))
            _quantize_weight(graph, use, layer_format(use.consumer, weights), granularity, method)
        use.consumer.attrs["q.format"] = layer_format(use.consumer, weights)
    for key, (v, name, _) in values.items():
        v.type = minifloat_type(name, v.type.dtype, v.type.shape, scales[key])
    return PassResult(bool(uses), {"weights": len(done), "activations": len(values), "kept_float": kept})


def _quantize_weight(graph, use, name: str, granularity: str, method: str) -> None:
    const, w = use.weight.producer, use.weight
    array = const.attrs["value"].array
    fmt, axis = format_named(name), use.axis if granularity == "channel" else None
    rows = np.moveaxis(array, axis, 0).reshape(array.shape[axis], -1) if axis is not None else array.reshape(1, -1)
    scale = row_scales(rows, fmt, method)
    t = minifloat_type(name, w.type.dtype, w.type.shape, scale if axis is not None else float(scale[0]), axis)
    const.meta["float_value"] = array
    const.attrs["value"] = Dense(fake_quantize(array, t).astype(array.dtype))
    const.attrs["q.scale_method"] = method
    w.type = t
