"""gather_nd: ONNX GatherND with batch_dims 0: the last axis of `indices` (length k)
addresses x's first k dims, out = x[tuple(indices[..., j] for j in range(k))], shape
indices.shape[:-1] + x.shape[k:]. Negative indices count from the end. Exporters build
attention masks with it (advanced indexing of the padding mask)."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import VerifyError
from ..registry import op, torch_impl
from ..types import TensorType
from .dtypes import require_int
from .infer import plain


def _gather_nd_type(types, attrs, consts):
    x, idx = plain(types[0]), plain(types[1])
    require_int(idx, "indices", "gather_nd")
    k = idx.shape[-1] if idx.rank else None
    if not isinstance(k, int) or not 1 <= k <= x.rank:
        raise VerifyError(f"gather_nd: the indices' last dim must be a static 1..{x.rank} (x's rank), got "
                          f"indices of shape {list(idx.shape)}")
    return [TensorType(x.dtype, idx.shape[:-1] + x.shape[k:])]


@op("gather_nd", inputs=["x", "indices"], infer=_gather_nd_type)
def gather_nd(x, indices):
    """x indexed by the tuples on the indices' last axis."""
    k = indices.shape[-1]
    return x[tuple(np.moveaxis(indices.astype(np.int64), -1, 0)[:k])].copy()


@torch_impl("gather_nd")
def gather_nd_torch(x, indices):
    return x[tuple(indices.long().movedim(-1, 0))]
