"""Fused activations that are not a clamp (hardswish, sigmoid, leaky_relu on a conv or
linear) lower to the integer product into a 16-bit intermediate, then a qlut; the
reference interpreter simulates the same rounding to the intermediate, so the
simulation and the integer kernels agree integer for integer.

Calibration saw only the activation's output, so the intermediate's range is the part
of the pre-activation axis that the output type can tell apart: below or above it the
activation is constant (or saturates the output storage) and clamping loses nothing.
That part can be much wider than the output range (sigmoid: about ±6 for [0, 1];
leaky_relu: lo/alpha), so 8 bits would cost the output a step or two; 16 bits keep the
lookup within rounding of the fused float activation, for a 2^16-entry table.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from scipy import special

from ..ir.core import Node
from ..ir.ops.fused import apply_fused_activation
from ..ir.types import QuantType
from .affine import params_from_range

TABLE_ACTIVATIONS = ("hardswish", "sigmoid", "leaky_relu")


def _real_range(t: QuantType) -> tuple:
    s, zp = float(t.scale.array.reshape(-1)[0]), int(t.zero_point.array.reshape(-1)[0])
    return (t.qmin - zp) * s, (t.qmax - zp) * s


def preactivation_range(node: Node, out: QuantType) -> Optional[tuple]:
    """[lo, hi] of the pre-activation values worth resolving, or None if unknown."""
    act = node.attrs.get("activation")
    lo_out, hi_out = _real_range(out)
    if act == "hardswish":
        # constant 0 below -3; x·(x+3)/6 = hi solved for x when hi < 3, identity above 3
        hi = hi_out if hi_out >= 3 else (-3 + math.sqrt(9 + 24 * max(hi_out, 0.0))) / 2
        return -3.0, hi
    if act == "sigmoid":
        half_step = float(out.scale.array.reshape(-1)[0]) / 2  # sigmoid closer than this to 0 or 1 rounds to the end anyway
        lo, hi = np.clip([lo_out, hi_out], half_step, 1 - half_step)
        return float(special.logit(lo)), float(special.logit(hi))
    if act == "leaky_relu":
        alpha = node.attrs.get("activation_alpha")
        alpha = 0.01 if alpha is None else float(alpha)
        if alpha <= 0:
            return None
        return min(lo_out / alpha, 0.0), hi_out
    return None


INTERMEDIATE = "i16"


def preactivation_type(node: Node, out: QuantType) -> Optional[QuantType]:
    """The intermediate type the integer product writes before the table."""
    bounds = preactivation_range(node, out)
    if bounds is None:
        return None
    scale, zp = params_from_range(bounds[0], bounds[1], INTERMEDIATE, symmetric=False)
    return QuantType(INTERMEDIATE, out.expressed, out.shape, scale, zp)


def fused_function(node: Node):
    """The node's fused activation as a numpy function (the float op's own kernel)."""
    keys = ("activation", "activation_min", "activation_max", "activation_alpha")
    fused = {k: node.attrs.get(k) for k in keys}
    return lambda real: apply_fused_activation(real, use_torch=False, **fused)
