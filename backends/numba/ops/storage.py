"""Pass-through ops run directly on storage integers.

When every quantized operand and result of a layout op, max pool, same_pad or relu has
the same per-tensor parameters, quantize(f(dequantize(q))) = f(q) on storage: layout ops
move integers, max commutes with the increasing affine map, relu is max(q, zero point)
and same_pad's zeros are the zero point.
Such nodes skip the float round trip the reference takes and give the same integers,
in the container their input came in (uint8 for u8 storage, int32 when a producer
wrote int32).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.registry import run_reference
from qcompiler.ir.types import QuantType

from .common import Step, storage_int32, zero_point

# dtype-agnostic references: run unchanged on storage arrays
LAYOUT_OPS = frozenset({"reshape", "flatten", "transpose", "squeeze", "unsqueeze", "identity", "dropout", "slice",
                        "concat", "split", "expand", "tile", "gather", "global_max_pool"})
# their references pad with -inf: run on float64 storage (exact for any storage up to 32 bits)
PADDED_MAX_OPS = frozenset({"max_pool1d", "max_pool2d"})
STORAGE_OPS = LAYOUT_OPS | PADDED_MAX_OPS | {"relu", "same_pad"}


def _params(t: QuantType) -> Optional[tuple]:
    if t.axis is not None:
        return None
    return (t.storage, t.scale, t.zero_point)


def shared_params(node: Node) -> Optional[QuantType]:
    """The one per-tensor quantized type every data operand and result shares, or None.

    Data operands are all operands of concat and the first one of the others (the rest
    are shapes, repeats or indices)."""
    data = node.inputs if node.op == "concat" else node.inputs[:1]
    types = [v.type for v in data if v is not None] + [v.type for v in node.outputs]
    if not types or not all(isinstance(t, QuantType) for t in types):
        return None
    keys = {_params(t) for t in types}
    return types[0] if len(keys) == 1 and None not in keys else None


def prepare_storage_op(node: Node) -> Optional[Step]:
    """A step running `node` on storage, or None when it must take the float route."""
    if node.op not in STORAGE_OPS:
        return None
    t = shared_params(node)
    if t is None:
        return None
    if node.op == "relu":
        zp = zero_point(t)
        return lambda args: [np.maximum(args[0], _scalar_like(args[0], zp))]
    if node.op == "same_pad":  # pads real zeros: the zero point in storage
        zp = zero_point(t)
        return lambda args: [(run_reference(node.op, [storage_int32(args[0]) - np.int32(zp)], node.attrs)[0]
                              + np.int32(zp)).astype(_scalar_like(args[0], zp).dtype, copy=False)]
    if node.op in PADDED_MAX_OPS:  # the maxima are input values: back in the input's container
        return lambda args: [out.astype(args[0].dtype) for out in
                             run_reference(node.op, [np.asarray(args[0], np.float64)], node.attrs)]
    return lambda args: run_reference(node.op, args, node.attrs)


def _scalar_like(x: np.ndarray, value: int):
    """value in x's integer dtype when it fits, so a result of x and value keeps x's container; else int32."""
    info = np.iinfo(x.dtype)
    return x.dtype.type(value) if info.min <= value <= info.max else np.int32(value)
