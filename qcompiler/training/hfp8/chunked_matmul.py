"""Matrix product with the reduction summed in chunks into a low-precision accumulator.

Definition (what rounded_matmul computes for every output element):

    acc = 0
    for each chunk c of `chunk` consecutive reduction indices:
        s   = round(sum of a[i, k] * b[k, j] over k in c)   # exact sum, then one rounding
        acc = round(acc + s)

with round() the accumulator format's round-to-nearest-even (formats.py). chunk=1 is
the naive accumulator: the running sum rounded after every addition, so once it is
large, addends below half its spacing vanish ("swamping"). With chunks the running sum
takes K/chunk roundings instead of K, and each small addend first meets the others of
its chunk. The chunk sums are float64: the products of FP8 (or float32) values are
exact in it, and their sums are exact whenever they fit 53 bits, as for FP8 inputs.
"""
from __future__ import annotations

import torch

from .rounding import round_nearest


def rounded_matmul(a: torch.Tensor, b: torch.Tensor, chunk: int, accumulator) -> torch.Tensor:
    """a [N, K] @ b [K, M] with chunked accumulation in `accumulator` (None: float64 sums)."""
    n, k = a.shape
    m = b.shape[1]
    chunks = -(-k // chunk)
    pad = chunks * chunk - k
    a64 = torch.nn.functional.pad(a.to(torch.float64), (0, pad)).view(n, chunks, chunk)
    b64 = torch.nn.functional.pad(b.to(torch.float64), (0, 0, 0, pad)).view(chunks, chunk, m)
    partial = torch.einsum("ncj,cjm->cnm", a64, b64)
    acc = torch.zeros(n, m, dtype=torch.float64)
    for c in range(chunks):
        acc = round_nearest(acc + round_nearest(partial[c], accumulator), accumulator)
    return acc.to(a.dtype)
