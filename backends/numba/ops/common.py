"""What the preparation of every integer node shares: reading its quantized operand and
result types, its requantization attributes, its constant operands, the numpy container
of its result, and reporting run-time overflow the way the reference does.

A prepared node is a `Step`: a function from the node's runtime arrays (storage
integers for quantized values) to its results. Storage travels between nodes in the
narrowest container of its type (`storage_dtype`: u8 in uint8, i4 in int8, i16 in
int16), so a step gets uint8/int8/int16/int32 arrays for the same type and widens
inside its kernel (or with `storage_int32`) before any arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.printer import format_type
from qcompiler.ir.registry import get_op
from qcompiler.ir.types import QuantType
from qcompiler.runtime.reference import ExecutionError, run_node

from ..errors import NumbaBackendError
from ..kernels.rounding import ROUNDING_CODES

Step = Callable[[list], list]


def attrs_of(node: Node) -> dict:
    return get_op(node.op).with_defaults(node.attrs)


def quant_input(node: Node, i: int, role: str, *, per_tensor: bool = True) -> QuantType:
    v = node.inputs[i] if i < len(node.inputs) else None
    t = v.type if v is not None else None
    if not isinstance(t, QuantType) or (per_tensor and t.axis is not None):
        want = "a per-tensor quantized type" if per_tensor else "a quantized type"
        shown = "absent" if t is None else format_type(t)
        raise NumbaBackendError(f"node {node.label()}: operand '{role}' must have {want}, got {shown}")
    return t


def quant_result(node: Node) -> QuantType:
    t = node.outputs[0].type
    if not isinstance(t, QuantType) or t.axis is not None:
        raise NumbaBackendError(f"node {node.label()}: the result must have a per-tensor quantized type, "
                                f"got {format_type(t)}")
    return t


def zero_point(t: QuantType) -> int:
    return int(t.zero_point.array.reshape(-1)[0])


def const_input(node: Node, i: int):
    """The numpy value of input i when it is a constant, else None; a weight stored in
    zero-run code (a `zero_run_weight` of constants, ops/zero_runs.py) is one, decoded."""
    v = node.inputs[i] if i < len(node.inputs) else None
    producer = v.producer if v is not None else None
    if producer is not None and producer.op == "zero_run_weight":
        stored = [const_input(producer, j) for j in range(2)]
        return None if any(a is None for a in stored) else run_node(producer, stored)[0]
    return Graph.const_value(v)


@dataclass(frozen=True)
class Requant:
    """Requantization of one node, expanded to one entry per output channel."""

    multipliers: tuple  # one int64 [channels] array per multiplier attribute
    shift: np.ndarray   # int64 [channels]
    mode: int           # kernels.rounding code
    zero_point: int     # of the result
    lo: int
    hi: int
    dtype: np.dtype     # the result's container (`storage_dtype` of the clamp)

    @property
    def multiplier(self) -> np.ndarray:
        return self.multipliers[0]


def requant_of(node: Node, channels: int, names=("multiplier",)) -> Requant:
    attrs = attrs_of(node)
    out = quant_result(node)
    expanded = []
    for name in (*names, "shift"):
        a = np.asarray(attrs[name].array, np.int64).reshape(-1)
        if a.size not in (1, channels):
            raise NumbaBackendError(f"node {node.label()}: '{name}' has {a.size} entries; expected 1 or one per "
                                    f"output channel ({channels})")
        expanded.append(np.array(np.broadcast_to(a, (channels,))))  # a writable copy: one kernel signature
    lo, hi = attrs.get("clamp") or (out.qmin, out.qmax)
    return Requant(tuple(expanded[:-1]), expanded[-1], ROUNDING_CODES[attrs["rounding"]], zero_point(out),
                   int(lo), int(hi), storage_dtype(out, int(lo), int(hi)))


# containers of the storages narrower than 32 bits
_NARROW_CONTAINERS = {"u8": np.uint8, "u4": np.uint8, "u2": np.uint8,
                      "i8": np.int8, "i4": np.int8, "i2": np.int8, "b1": np.int8, "i16": np.int16}


def storage_dtype(t: QuantType, lo: Optional[int] = None, hi: Optional[int] = None) -> np.dtype:
    """The numpy dtype a value of type t is held in between nodes: its storage's narrow
    container when every value it can take ([lo, hi], the storage range by default; a
    requantization clamp or a table may differ) fits it, else int32."""
    container = np.dtype(_NARROW_CONTAINERS.get(t.storage, np.int32))
    lo, hi = t.qmin if lo is None else lo, t.qmax if hi is None else hi
    info = np.iinfo(container)
    return container if info.min <= lo and hi <= info.max else np.dtype(np.int32)


def check_overflow(node: Node, flags: np.ndarray) -> None:
    """The reference raises when an accumulator leaves int32; so does the backend."""
    if flags.any():
        raise ExecutionError(f"node {node.label()} failed: OverflowError: accumulator outside int32")


def storage_int32(a) -> np.ndarray:
    return np.ascontiguousarray(a, np.int32)


# the IR's pad_mode as numpy's np.pad mode
NUMPY_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_unless_zeros(x: np.ndarray, pad_mode: str, begin: tuple, end: tuple) -> tuple:
    """(x, begin, end) for a kernel whose layout makes zero padding itself: other modes
    are padded here by numpy, and the kernel then sees no padding."""
    if pad_mode != "zeros" and any(begin + end):
        return np.pad(x, [(0, 0), (0, 0)] + list(zip(begin, end)), mode=NUMPY_PAD_MODE[pad_mode]), (0, 0), (0, 0)
    return x, begin, end
