"""gather_elements: ONNX GatherElements (torch.gather): out[i][j][k] = x[i][index[i][j][k]][k]
along `axis`; the result has the indices' shape. Negative indices count from the end."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .dtypes import require_int
from .infer import norm_axis, plain


def _gather_elements_type(types, attrs, consts):
    x, idx = plain(types[0]), plain(types[1])
    require_int(idx, "indices", "gather_elements")
    if x.rank == 0 or x.rank != idx.rank:
        raise VerifyError(f"gather_elements: x and indices need one rank >= 1, got shapes "
                          f"{list(x.shape)} and {list(idx.shape)}")
    norm_axis(attrs["axis"], x.rank, "gather_elements: ")
    return [TensorType(x.dtype, idx.shape)]


@op("gather_elements", inputs=["x", "indices"], attrs={"axis": Attr("int", 0)}, infer=_gather_elements_type)
def gather_elements(x, indices, axis=0):
    """numpy take_along_axis; indices may be smaller than x on every axis."""
    axis = axis % x.ndim
    idx = np.where(indices < 0, indices + x.shape[axis], indices)
    # take_along_axis broadcasts: cut x to the indices' extent on the other axes first
    x = x[tuple(slice(None) if a == axis else slice(0, n) for a, n in enumerate(idx.shape))]
    return np.take_along_axis(x, idx.astype(np.int64), axis=axis)


@torch_impl("gather_elements")
def gather_elements_torch(x, indices, axis=0):
    axis = axis % x.dim()
    idx = indices.long()
    return torch.gather(x, axis, torch.where(idx < 0, idx + x.shape[axis], idx))
