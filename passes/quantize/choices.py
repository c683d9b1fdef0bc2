"""What a target can run: requested storage types and granularities are checked
against the target description and fall back, with a warning, to what it supports."""
from __future__ import annotations

from typing import Optional

from qcompiler.ir.core import Node
from qcompiler.ir.types import STORAGE_BITS
from qcompiler.targets import Target

from .errors import QuantizeError

WEIGHT_STORAGE = {8: "i8", 4: "i4", 2: "i2", 1: "b1"}
ACTIVATION_STORAGE = ("u8", "i8", "u4", "i4", "u2", "i2")
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


def check_weight_option(storage: str) -> None:
    if storage not in WEIGHT_STORAGE.values():
        raise QuantizeOptionError(f"weights='{storage}' is not a weight storage type; "
                                  f"expected one of {', '.join(WEIGHT_STORAGE.values())}")


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


def weight_bits(node: Node, default_storage: str) -> int:
    """`q.bits` on the node (set by the bit allocator) or the width of the pass option."""
    bits = node.attrs.get("q.bits", STORAGE_BITS[default_storage])
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
