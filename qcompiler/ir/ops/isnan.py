"""isnan: which entries are NaN (ONNX IsNaN). torch's sdpa as exported zeroes the rows
of a -inf masked softmax with where(isnan(p), 0, p); canonicalize folds that pattern into
masked_softmax's zero_empty_rows, and any other use runs as this op."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import VerifyError
from ..registry import op, torch_impl
from ..types import TensorType
from .dtypes import is_float_dtype
from .infer import plain


def _isnan_type(types, attrs, consts):
    x = plain(types[0])
    if not is_float_dtype(x.dtype):
        raise VerifyError(f"isnan: needs a float operand, got {types[0]}")
    return [TensorType("bool", x.shape)]


@op("isnan", inputs=["x"], infer=_isnan_type)
def isnan(x):
    """True where x is NaN (bool result)."""
    return np.isnan(x)


@torch_impl("isnan")
def isnan_torch(x):
    return torch.isnan(x)
