"""What lowering reads from quantized types and writes into integer-op attributes:
per-tensor parameters, parameter equality, dyadic requantization attributes and the
output clamp of a fused activation."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType, Type
from qcompiler.numerics.affine import quantize
from qcompiler.numerics.fixed_point import quantize_multiplier
from qcompiler.runtime.product_rounding import per_tensor_levels


def is_quant(t: Optional[Type]) -> bool:
    return isinstance(t, QuantType)


def per_tensor(t: Optional[Type], max_bits: int = 16) -> bool:
    """A per-tensor QuantType an integer op can take (multi-level storage of <= max_bits)."""
    return per_tensor_levels(t) and t.bits <= max_bits


def scale_of(t: QuantType) -> float:
    return float(t.scale.array.reshape(-1)[0])


def zero_point_of(t: QuantType) -> int:
    return int(t.zero_point.array.reshape(-1)[0])


def same_params(a: Type, b: Type) -> bool:
    """Equal quantization parameters (shapes aside): storage values mean the same reals."""
    return is_quant(a) and is_quant(b) and replace(a, shape=()) == replace(b, shape=())


def with_params(params: QuantType, shape) -> QuantType:
    return replace(params, shape=tuple(shape))


def max_centered(t: QuantType) -> int:
    """The largest |storage - zero point| over the storage range (and all channels)."""
    zp = t.zero_point.array.astype(np.int64)
    return int(np.max(np.maximum(zp - t.qmin, t.qmax - zp)))


def requant_attrs(m) -> dict:
    """`multiplier` / `shift` attributes (1-D i32, one entry or one per channel) for real M."""
    multiplier, shift = quantize_multiplier(np.atleast_1d(np.asarray(m, np.float64)))
    return {"multiplier": Dense(multiplier), "shift": Dense(shift)}


def activation_bounds(node: Node) -> Optional[tuple]:
    """(lo, hi) reals of a fused relu / relu6 / clip (None = unbounded); None for other
    activations, which are not a clamp."""
    act = node.attrs.get("activation")
    if act is None:
        return (None, None)
    if act == "relu":
        return (0.0, None)
    if act == "relu6":
        return (0.0, 6.0)
    if act == "clip":
        return (node.attrs.get("activation_min"), node.attrs.get("activation_max"))
    return None


def clamp_for(out: QuantType, lo: Optional[float] = None, hi: Optional[float] = None) -> list:
    """[lo, hi] in output storage: the storage range intersected with quantize([lo, hi]).
    quantize is monotone, so clamping in storage equals quantizing the clipped real."""
    bounds = [out.qmin, out.qmax]
    if lo is not None:
        bounds[0] = int(quantize(np.float32(lo), out))
    if hi is not None:
        bounds[1] = int(quantize(np.float32(hi), out))
    return bounds
