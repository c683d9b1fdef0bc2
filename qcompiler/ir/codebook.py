"""How a codebook-quantized weight is stored in the IR (docs/codebook.md).

A weight of type `cb<cbB:idxI:f32, kernel=[kh, kw]>[Cout, Cin/g, kh, kw]` is a `const`
whose `value` is the index array [Cout, Cin/g] (one index per k×k kernel) and whose
attributes hold the codebook:

- `q.codebook`: integer codewords, shape [2^I, kh, kw], in the signed B-bit range;
- `q.codebook_scale`: the float (an exact f32) every codeword is multiplied by.

The real weight is `scale · codebook[indices]`. Layers sharing one codebook (share=model)
carry equal `q.codebook` / `q.codebook_scale`; equal content is what "shared" means.
"""
from __future__ import annotations

import math

import numpy as np

from .core import Node
from .dense import Dense
from .errors import VerifyError
from .types import CodebookType, numpy_dtype

CODEBOOK = "q.codebook"
SCALE = "q.codebook_scale"


def codeword_range(bits: int) -> tuple:
    """Signed `bits`-bit integers, as stored codewords may take."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def index_dtype(index_bits: int) -> np.dtype:
    return np.dtype(np.uint8 if index_bits <= 8 else np.int32)


def codeword_dtype(codebook_bits: int) -> np.dtype:
    return np.dtype(np.int8 if codebook_bits <= 8 else np.int16 if codebook_bits <= 16 else np.int32)


def codebook_attrs(codebook: np.ndarray, scale: float) -> dict:
    """The const attributes holding `codebook` (integers) and its scale (rounded to f32)."""
    return {CODEBOOK: Dense(codebook), SCALE: float(np.float32(scale))}


def codebook_of(node: Node) -> tuple:
    """(integer codebook [2^I, kh, kw], scale as f32) of a codebook constant."""
    return node.attrs[CODEBOOK].array, np.float32(node.attrs[SCALE])


def decode(node: Node) -> np.ndarray:
    """The real weight a codebook constant stands for: scale · codebook[indices] (in f32, then
    its expressed dtype)."""
    codebook, scale = codebook_of(node)
    codewords = codebook.astype(np.float32) * scale
    weight = codewords[node.attrs["value"].array.astype(np.int64)]
    return weight.astype(numpy_dtype(node.output.type.expressed), copy=False)


def check_codebook_const(node: Node, where: str) -> None:
    """The verifier's rule for a const of CodebookType (layout above)."""
    t: CodebookType = node.output.type
    indices = node.attrs["value"].array
    k = len(t.kernel_shape)
    if len(t.shape) <= k or tuple(t.shape[-k:]) != t.kernel_shape:
        raise VerifyError(f"{where}: codebook weight shape {list(t.shape)} does not end in the kernel shape "
                          f"{list(t.kernel_shape)}")
    if tuple(indices.shape) != tuple(t.shape[:-k]):
        raise VerifyError(f"{where}: codebook indices have shape {list(indices.shape)}, expected "
                          f"{list(t.shape[:-k])} (one per {'x'.join(map(str, t.kernel_shape))} kernel)")
    if indices.dtype.kind not in "iu":
        raise VerifyError(f"{where}: codebook indices must be integers, got {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= t.num_codewords):
        raise VerifyError(f"{where}: codebook indices outside [0, {t.num_codewords - 1}] (idx{t.index_bits})")
    codebook, scale = node.attrs.get(CODEBOOK), node.attrs.get(SCALE)
    if not isinstance(codebook, Dense) or isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise VerifyError(f"{where}: a codebook constant needs '{CODEBOOK}' (dense integers) and "
                          f"'{SCALE}' (float) attributes")
    want = (t.num_codewords,) + t.kernel_shape
    if codebook.shape != want or codebook.dtype.kind not in "iu":
        raise VerifyError(f"{where}: '{CODEBOOK}' must be integers of shape {list(want)}, got "
                          f"{codebook.dtype}{list(codebook.shape)}")
    lo, hi = codeword_range(t.codebook_bits)
    if codebook.size and (codebook.array.min() < lo or codebook.array.max() > hi):
        raise VerifyError(f"{where}: codewords outside the {t.codebook_bits}-bit range [{lo}, {hi}]")
    if not (math.isfinite(scale) and scale > 0):
        raise VerifyError(f"{where}: '{SCALE}' must be finite and > 0, got {scale}")
