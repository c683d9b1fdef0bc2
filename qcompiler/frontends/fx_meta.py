"""What torch computes for each fx node on the example inputs (shapes, dtypes, Python
values), and torch dtypes as IR dtypes."""
from __future__ import annotations

from typing import Optional

import torch
import torch.fx as fx
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from ..ir.core import Value
from ..ir.errors import FrontendError
from ..ir.ops.infer import plain

_IR_DTYPES = {torch.float32: "f32", torch.float64: "f64", torch.float16: "f16", torch.bfloat16: "bf16",
              torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8", torch.uint8: "u8",
              torch.bool: "bool"}
_TORCH_DTYPES = {v: k for k, v in _IR_DTYPES.items()}


def ir_dtype(dtype: torch.dtype) -> str:
    try:
        return _IR_DTYPES[dtype]
    except KeyError:
        raise FrontendError(f"tensors of dtype {dtype} have no IR dtype") from None


def torch_dtype(dtype: str) -> torch.dtype:
    return _TORCH_DTYPES[dtype]


def propagate(gm: fx.GraphModule, examples: tuple, dynamic_batch: bool) -> None:
    """Record torch's results on every node. With a dynamic batch, first also at batch+1
    (`meta["qc_next_batch"]`): a dim that changes with the batch is symbolic, one that
    does not is static."""
    if dynamic_batch:
        try:
            RecordingShapeProp(gm).propagate(*(torch.cat([x, x[:1]]) for x in examples))
        except Exception as e:
            raise FrontendError(f"dynamic_batch=True, but the model fails at batch size {len(examples[0]) + 1}: "
                                f"{type(e).__name__}: {e}") from None
        for n in gm.graph.nodes:
            n.meta["qc_next_batch"] = n.meta.get("tensor_meta")
    RecordingShapeProp(gm).propagate(*(x.clone() for x in examples))


def refine(result, meta, next_meta, batch: int) -> None:
    """Fill in the dims of `result`'s types that inference left unknown (after a reshape
    to a computed shape): static where torch's two runs agree, "N" where they follow the
    batch size."""
    if isinstance(result, Value) and isinstance(meta, TensorMetadata) and isinstance(next_meta, TensorMetadata):
        shape = [_refined(d, a, b, batch) for d, a, b in zip(result.type.shape, meta.shape, next_meta.shape)]
        result.type = result.type.with_shape(shape)
    elif isinstance(result, (list, tuple)) and isinstance(meta, (list, tuple)) and isinstance(next_meta, (list, tuple)):
        for r, m, n in zip(result, meta, next_meta):
            refine(r, m, n, batch)


def _refined(dim, size: int, next_size: int, batch: int):
    if isinstance(dim, int) or dim == "N":
        return dim
    if size == next_size:
        return int(size)
    return "N" if (size, next_size) == (batch, batch + 1) else dim


class RecordingShapeProp(ShapeProp):
    """ShapeProp that also keeps the Python values (sizes, flags, dtypes) nodes produce."""

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        if not isinstance(result, torch.Tensor):
            n.meta["qc_value"] = result
        return result


def first_mismatch(meta, result) -> Optional[str]:
    """How an importer result (IR values, nested in lists) differs from torch's results
    (TensorMetadata), or None. Symbolic dims match any size."""
    if isinstance(result, Value) and isinstance(meta, TensorMetadata):
        t, want = plain(result.type), list(meta.shape)
        same = len(t.shape) == len(want) and all(isinstance(a, str) or a == b for a, b in zip(t.shape, want))
        if t.dtype != ir_dtype(meta.dtype) or not same:
            return f"built {t.dtype}{list(t.shape)} where torch computes {ir_dtype(meta.dtype)}{want}"
    elif isinstance(result, (list, tuple)) and isinstance(meta, (list, tuple)) and len(result) == len(meta):
        for r, m in zip(result, meta):
            mismatch = first_mismatch(m, r)
            if mismatch:
                return mismatch
    return None
