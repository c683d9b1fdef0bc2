"""Dtype rules shared by the tensor ops: result-dtype promotion, IR <-> torch dtypes.

Promotion follows torch (which the fx frontend mirrors): a float operand wins over an
integer or bool one whatever their widths; otherwise the wider type wins. ONNX models
never mix dtypes, so this only decides torch-imported graphs. The numpy references use
the same rule on numpy dtypes so they produce exactly the inferred dtype.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import VerifyError
from ..types import Type, dtype_of_numpy, numpy_dtype
from .infer import plain

_FLOAT_RANK = {"f16": 0, "bf16": 1, "f32": 2, "f64": 3}

TORCH_DTYPES = {
    "f64": torch.float64, "f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
    "i64": torch.int64, "i32": torch.int32, "i16": torch.int16, "i8": torch.int8, "u8": torch.uint8,
    "bool": torch.bool,
}


def is_float_dtype(dtype: str) -> bool:
    return dtype in _FLOAT_RANK


def promote(*dtypes: str) -> str:
    """The IR dtype of an elementwise result over operands of `dtypes`."""
    floats = [d for d in dtypes if is_float_dtype(d)]
    if floats:
        return max(floats, key=_FLOAT_RANK.__getitem__)
    out = np.dtype(numpy_dtype(dtypes[0]))
    for d in dtypes[1:]:
        out = np.promote_types(out, numpy_dtype(d))
    return dtype_of_numpy(out)


def promote_types(types: list, where: str) -> str:
    present = [plain(t).dtype for t in types if t is not None]
    if not present:
        raise VerifyError(f"{where}: no operand types")
    return promote(*present)


def np_promote(*arrays: np.ndarray) -> np.dtype:
    """`promote` on numpy arrays: the dtype a numpy reference must compute in."""
    floats = [a.dtype for a in arrays if a.dtype.kind == "f"]
    if floats:
        return max(floats, key=lambda d: d.itemsize)
    return np.result_type(*[a.dtype for a in arrays])


def torch_promote(*tensors: torch.Tensor) -> torch.dtype:
    floats = [t.dtype for t in tensors if t.is_floating_point()]
    if floats:
        return max(floats, key=lambda d: (d.itemsize, d == torch.bfloat16))
    out = tensors[0].dtype
    for t in tensors[1:]:
        out = torch.promote_types(out, t.dtype)
    return out


def require_int(t: Type, what: str, where: str) -> None:
    if plain(t).dtype not in ("i64", "i32", "i16", "i8", "u8"):
        raise VerifyError(f"{where}: {what} must be an integer tensor, got {plain(t).dtype}")
