"""Fused activation attributes (set by `fuse-activations`) shared by conv1d, conv2d,
conv_transpose2d and linear.

The fused activation runs the very same reference / torch function as the standalone
op, so fusing never changes numerics.
"""
from __future__ import annotations

from ..errors import VerifyError
from ..registry import Attr
from . import activation as act

# name -> (numpy reference, torch implementation)
_KERNELS = {
    "relu": (act.relu, act.relu_torch),
    "relu6": (act.relu6, act.relu6_torch),
    "clip": (act.clip, act.clip_torch),
    "hardswish": (act.hardswish, act.hardswish_torch),
    "sigmoid": (act.sigmoid, act.sigmoid_torch),
    "leaky_relu": (act.leaky_relu, act.leaky_relu_torch),
}

FUSED_ACTIVATION_ATTRS = {
    "activation": Attr("str", None, choices=tuple(_KERNELS), doc="activation applied after the bias"),
    "activation_min": Attr("float", None, doc="lower bound when activation is clip"),
    "activation_max": Attr("float", None, doc="upper bound when activation is clip"),
    "activation_alpha": Attr("float", None, doc="negative slope when activation is leaky_relu"),
}

# which fused attribute belongs to which activation
_OWNED_BY = {"activation_min": "clip", "activation_max": "clip", "activation_alpha": "leaky_relu"}


def check_fused_activation(attrs: dict, where: str) -> None:
    """Reject parameters that do not belong to the fused activation (a sign of a bad fuse)."""
    name = attrs.get("activation")
    for key, owner in _OWNED_BY.items():
        if attrs.get(key) is not None and name != owner:
            raise VerifyError(f"{where}: '{key}' is set but the fused activation is {name!r}, not '{owner}'")
    lo, hi = attrs.get("activation_min"), attrs.get("activation_max")
    if lo is not None and hi is not None and lo > hi:
        raise VerifyError(f"{where}: activation_min {lo} is greater than activation_max {hi}")


def _params(activation, activation_min, activation_max, activation_alpha) -> dict:
    if activation == "clip":
        return {"min": activation_min, "max": activation_max}
    if activation == "leaky_relu" and activation_alpha is not None:
        return {"alpha": activation_alpha}
    return {}


def apply_fused_activation(y, *, use_torch: bool, activation=None, activation_min=None,
                           activation_max=None, activation_alpha=None):
    """Apply the fused activation named by the attributes to `y` (numpy or torch)."""
    if activation is None:
        return y
    numpy_fn, torch_fn = _KERNELS[activation]
    fn = torch_fn if use_torch else numpy_fn
    return fn(y, **_params(activation, activation_min, activation_max, activation_alpha))
