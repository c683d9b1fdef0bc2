"""torch dtypes as IR dtypes, and what torch computed for each fx node on the examples."""
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
