"""Matrix products: linear (torch layout, fused activation), gemm (ONNX Gemm) and
matmul (numpy semantics: batched, broadcasting, 1-D operands)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VerifyError
from ..registry import Attr, op, torch_impl
from ..types import TensorType
from .fused import FUSED_ACTIVATION_ATTRS, apply_fused_activation, check_fused_activation
from .infer import broadcast_shapes, plain


def _check_contraction(name: str, ka, kb, a_shape, b_shape, a_role: str, b_role: str) -> None:
    if isinstance(ka, int) and isinstance(kb, int) and ka != kb:
        raise VerifyError(f"{name}: contraction sizes differ: {a_role} has {ka} (shape {list(a_shape)}) "
                          f"but {b_role} has {kb} (shape {list(b_shape)})")


def _linear_type(types, attrs, consts):
    x, w = plain(types[0]), plain(types[1])
    check_fused_activation(attrs, "linear")
    if x.rank < 1:
        raise VerifyError("linear: input must have rank >= 1 [..., in_features], got a scalar")
    if w.rank != 2:
        raise VerifyError(f"linear: weight must be 2-D [out_features, in_features], got shape {list(w.shape)}")
    _check_contraction("linear", x.shape[-1], w.shape[1], x.shape, w.shape, "input", "weight [out, in]")
    if len(types) > 2 and types[2] is not None:
        b = plain(types[2]).shape
        if len(b) != 1 or (isinstance(b[0], int) and isinstance(w.shape[0], int) and b[0] != w.shape[0]):
            raise VerifyError(f"linear: bias shape {list(b)} does not match {w.shape[0]} output features")
    return [TensorType(x.dtype, x.shape[:-1] + (w.shape[0],))]


@op("linear", inputs=["x", "w", "b?"], attrs=dict(FUSED_ACTIVATION_ATTRS), infer=_linear_type)
def linear(x, w, b=None, **fused):
    """y = x @ wᵀ + b, then the fused activation."""
    # one [rows, in] GEMM: numpy runs a stacked x as one small GEMM per leading index, ~5x slower
    rows = x.reshape(-1, x.shape[-1]) if x.ndim > 2 else x
    y = np.matmul(rows, w.T).reshape(*x.shape[:-1], w.shape[0])
    if b is not None:
        y = y + b
    return apply_fused_activation(y.astype(x.dtype, copy=False), use_torch=False, **fused)


@torch_impl("linear")
def linear_torch(x, w, b=None, **fused):
    return apply_fused_activation(F.linear(x, w, b), use_torch=True, **fused)


GEMM_ATTRS = {"alpha": Attr("float", 1.0), "beta": Attr("float", 1.0),
              "trans_a": Attr("bool", False), "trans_b": Attr("bool", False)}


def _gemm_type(types, attrs, consts):
    a, b = plain(types[0]), plain(types[1])
    for role, t in (("a", a), ("b", b)):
        if t.rank != 2:
            raise VerifyError(f"gemm: operand {role} must be 2-D, got shape {list(t.shape)}")
    (m, ka) = a.shape[::-1] if attrs["trans_a"] else a.shape
    (kb, n) = b.shape[::-1] if attrs["trans_b"] else b.shape
    _check_contraction("gemm", ka, kb, a.shape, b.shape, "a" + ("ᵀ" if attrs["trans_a"] else ""),
                       "b" + ("ᵀ" if attrs["trans_b"] else ""))
    if len(types) > 2 and types[2] is not None:
        c = plain(types[2]).shape
        try:
            grown = broadcast_shapes(c, (m, n))
        except VerifyError:
            grown = None
        if grown is None or len(grown) != 2 or any(isinstance(g, int) and isinstance(d, int) and g != d
                                                   for g, d in zip(grown, (m, n))):
            raise VerifyError(f"gemm: c of shape {list(c)} does not broadcast to the result [{m}, {n}]")
    return [TensorType(a.dtype, (m, n))]


@op("gemm", inputs=["a", "b", "c?"], attrs=GEMM_ATTRS, infer=_gemm_type)
def gemm(a, b, c=None, alpha=1.0, beta=1.0, trans_a=False, trans_b=False):
    """ONNX Gemm: alpha * A' @ B' + beta * C."""
    y = float(alpha) * np.matmul(a.T if trans_a else a, b.T if trans_b else b)
    if c is not None:
        y = y + float(beta) * c
    return y.astype(a.dtype, copy=False)


@torch_impl("gemm")
def gemm_torch(a, b, c=None, alpha=1.0, beta=1.0, trans_a=False, trans_b=False):
    y = float(alpha) * torch.matmul(a.T if trans_a else a, b.T if trans_b else b)
    return y if c is None else y + float(beta) * c


def _matmul_type(types, attrs, consts):
    a, b = plain(types[0]), plain(types[1])
    if a.rank == 0 or b.rank == 0:
        raise VerifyError(f"matmul: operands must have rank >= 1, got shapes {list(a.shape)} and {list(b.shape)}")
    # numpy promotes 1-D operands to a row (a) / column (b) and drops that dim afterwards
    a2 = (1,) + a.shape if a.rank == 1 else a.shape
    b2 = b.shape + (1,) if b.rank == 1 else b.shape
    _check_contraction("matmul", a2[-1], b2[-2], a.shape, b.shape, "a", "b")
    try:
        batch = broadcast_shapes(a2[:-2], b2[:-2])
    except VerifyError:
        raise VerifyError(f"matmul: batch dims of {list(a.shape)} and {list(b.shape)} do not broadcast") from None
    out = batch + (() if a.rank == 1 else (a2[-2],)) + (() if b.rank == 1 else (b2[-1],))
    return [TensorType(a.dtype, out)]


@op("matmul", inputs=["a", "b"], infer=_matmul_type)
def matmul(a, b):
    return np.matmul(a, b)


@torch_impl("matmul")
def matmul_torch(a, b):
    return torch.matmul(a, b)
