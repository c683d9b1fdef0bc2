"""How many bits a value is stored in, and how many bytes a tensor of it takes.

Sizes count stored elements at their storage width. The scales and zero points of a
quantized type are left out (one per channel, small next to the tensor); the codewords
of a codebook are counted, they are most of what it stores besides the indices.
"""
from __future__ import annotations

import math

from ..ir.types import CodebookType, MinifloatType, QuantType, TensorType, numpy_dtype
from ..numerics.zero_runs import BASE_INDEX_BYTES


def element_bits(t) -> int:
    """Bits per stored element: the storage width of a quantized type, the dtype width
    of a plain tensor (bool counts 8, as numpy stores it)."""
    if isinstance(t, (QuantType, MinifloatType)):
        return t.bits
    if isinstance(t, CodebookType):
        return t.codebook_bits
    if isinstance(t, TensorType):
        return 16 if t.dtype == "bf16" else numpy_dtype(t.dtype).itemsize * 8
    raise TypeError(f"no storage width for {type(t).__name__}")


def storage_bytes(t) -> float:
    """Bytes a tensor of type `t` takes at its storage width (symbolic dims count 1)."""
    numel = math.prod(d if isinstance(d, int) else 1 for d in t.shape)
    if isinstance(t, CodebookType):
        kernels = numel // max(1, math.prod(t.kernel_shape))
        codewords = t.num_codewords * math.prod(t.kernel_shape)
        return (kernels * t.index_bits + codewords * t.codebook_bits) / 8
    return numel * element_bits(t) / 8


def stored_bytes(v) -> float:
    """Bytes value `v` takes in a saved graph: a weight in zero-run code (`zero_run_weight`)
    its two byte arrays and base index, any other value `storage_bytes` of its type."""
    if v.producer is not None and v.producer.op == "zero_run_weight":
        return BASE_INDEX_BYTES + sum(storage_bytes(u.type) for u in v.producer.inputs)
    return storage_bytes(v.type)


def type_label(t) -> str:
    """`i8/channel`, `u8`, `e4m3`, `cb4`, `f32`: storage and granularity in a few letters."""
    if isinstance(t, QuantType):
        return t.storage if t.granularity == "tensor" else f"{t.storage}/{t.granularity}"
    if isinstance(t, MinifloatType):
        return t.format
    if isinstance(t, CodebookType):
        return f"cb{t.index_bits}"
    return t.dtype
