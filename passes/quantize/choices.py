"""What a target can run: requested storage types and granularities are checked
against the target description and fall back, with a warning, to what it supports."""
from __future__ import annotations

from typing import Optional

from qcompiler.ir.core import Node
from qcompiler.ir.types import STORAGE_BITS, STORAGE_RANGES
from qcompiler.targets import Target

from ..calibration.quant_error import signed_levels
from .errors import QuantizeError

# weight width -> the storage container holding it; a width narrower than its container
# keeps its own grid inside it (weight_levels): 3 bits in i4, 5 to 7 bits in i8
WEIGHT_STORAGE = {8: "i8", 7: "i8", 6: "i8", 5: "i8", 4: "i4", 3: "i4", 2: "i2", 1: "b1"}
WEIGHT_OPTIONS = {"b1": 1, **{f"i{b}": b for b in range(2, 9)}}  # quantize{weights=...}: a width
ACTIVATION_STORAGE = ("u8", "i8", "u4", "i4", "u2", "i2", "b1")
GRANULARITY_FALLBACK = {"group": ("channel", "tensor"), "channel": ("tensor",), "tensor": ("channel",)}


class QuantizeOptionError(QuantizeError, ValueError):
    """A malformed option (a ValueError too, so pipelines report it as a PipelineError)."""


def parse_granularity(text: str) -> str:
    kind, _, size = text.partition(":")
    if kind in ("tensor", "channel") and not size:
        return kind
    if kind == "group" and size.isdigit() and int(size) > 0:
        return f"group:{int(size)}"
    raise QuantizeOptionError(f"granularity '{text}' is not one of tensor, channel, group:N (N > 0)")


def check_weight_option(weights: str) -> None:
    if weights not in WEIGHT_OPTIONS:
        raise QuantizeOptionError(f"weights='{weights}' is not a weight width; expected one of "
                                  f"{', '.join(WEIGHT_OPTIONS)} (i3 is stored in i4, i5 to i7 in i8)")


def check_activation_option(storage: Optional[str]) -> None:
    if storage is not None and storage not in ACTIVATION_STORAGE:
        raise QuantizeOptionError(f"acts='{storage}' is not an activation storage type; "
                                  f"expected one of {', '.join(ACTIVATION_STORAGE)}")


def check_symmetric_option(symmetric) -> None:
    # a pipeline string leaves a non-boolean word as a str, which would read as True
    if symmetric is not None and not isinstance(symmetric, bool):
        raise QuantizeOptionError(f"symmetric={symmetric!r} is not true, false or unset (the target's rule)")


def activation_storage(requested: Optional[str], target: Target, ctx) -> str:
    """The requested storage if the target runs it, else the closest one it does (same
    width preferred, then the narrowest wider one, else the widest)."""
    supported = target.activation_storage
    if requested is None:
        return supported[0]
    if requested in supported:
        return requested
    bits = STORAGE_BITS[requested]
    by_width = sorted(supported, key=lambda s: (STORAGE_BITS[s] != bits, STORAGE_BITS[s] < bits, STORAGE_BITS[s]))
    chosen = by_width[0]
    ctx.warn(f"target '{target.name}' has no {requested} activations (it supports {', '.join(supported)}); using {chosen}")
    return chosen


def granularity(requested: str, target: Target, ctx) -> str:
    kind = requested.partition(":")[0]
    if kind in target.granularity:
        return requested
    chosen = next((g for g in GRANULARITY_FALLBACK[kind] if g in target.granularity), target.granularity[0])
    ctx.warn(f"target '{target.name}' has no {requested} weight granularity "
             f"(it supports {', '.join(target.granularity)}); using {chosen}")
    return chosen


def weight_bits(node: Node, option: str) -> int:
    """`q.bits` on the node (set by the bit allocator) or the width of the pass option."""
    bits = node.attrs.get("q.bits", WEIGHT_OPTIONS[option])
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 32:
        raise QuantizeError(f"node {node.label()}: q.bits = {bits!r} is not a bit width in 1..32")
    return bits


def weight_storage(node: Node, bits: int, target: Target, ctx) -> str:
    requested = WEIGHT_STORAGE.get(bits)
    if requested is not None and target.supports_weight(node.op, requested):
        return requested
    chosen = target.fallback_weight(node.op, bits)
    ctx.warn(f"{node.label()}: {requested or f'{bits}-bit'} weights are not supported by target "
             f"'{target.name}' (it runs {', '.join(target.weight_types_for(node.op))}); using {chosen}",
             node=node.outputs[0].name if node.outputs else "")
    return chosen


def weight_levels(bits: int, storage: str, saturating_pair_sums: bool) -> tuple:
    """(qrange, reduce_range) of `bits`-bit weights stored in `storage`: qrange is the
    signed range of the width when it is narrower than the container (None: all of it),
    a container the target fell back to holding its own width. On targets whose u8 x s8
    pair sums saturate, i8 weights keep at most 7 bits; reduce_range says that cap
    narrowed them (the layer stays an 8-bit one, `q.reduce_range`)."""
    width = bits if storage == WEIGHT_STORAGE.get(bits) else STORAGE_BITS[storage]
    reduce_range = saturating_pair_sums and storage == "i8" and width == 8
    width = 7 if reduce_range else width
    return (signed_levels(width) if width < STORAGE_BITS[storage] else None), reduce_range


def stored_levels(layer: Node, storage: str) -> tuple:
    """(qmin, qmax) of the integers a quantized weight read by `layer` keeps: its width's
    (`q.bits`, `q.reduce_range`, as quantize wrote them) inside the container."""
    bits = int(layer.attrs.get("q.bits", STORAGE_BITS[storage]))
    qrange, _ = weight_levels(bits, storage, bool(layer.attrs.get("q.reduce_range")))
    return qrange or STORAGE_RANGES[storage]
