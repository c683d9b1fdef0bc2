"""Integer 2-D convolution that runs only the nonzero taps of a sparse weight.

The direct kernel of `conv.py` with each output channel's weight row replaced by the
list of its nonzero taps (flat index k = (ic·kh + ky)·kw + kx, centred weight), made
once at load from the zero-run code (`ops/zero_runs.py`). A channel's list is padded
to a multiple of four with weight-0 taps, so the same four-tap accumulation passes
(`conv.accumulate_wide` / `accumulate_strided`) run over it: the work is proportional
to the nonzero taps, and a zero tap costs nothing. Accumulators, overflow report and
requantization are the dense kernel's.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .conv import accumulate, accumulator_width, requantize_checked, task_input


@njit(cache=True)
def _tap_offsets(tap_k, kh, kw, dh, dw, plane_h, plane_w):
    """Offset of each tap from its group's first input plane, and the wide-layout
    positions it can read before leaving its plane (see conv._tap_geometry)."""
    plane = plane_h * plane_w
    offset = np.empty(tap_k.size, np.int64)
    room = np.empty(tap_k.size, np.int64)
    for t in range(tap_k.size):
        k = tap_k[t]
        inside = ((k // kw) % kh) * dh * plane_w + (k % kw) * dw
        offset[t] = (k // (kh * kw)) * plane + inside
        room[t] = plane - inside
    return offset, room


@njit(parallel=True, cache=True)
def qconv2d_sparse_kernel(xc, tap_k, tap_w, starts, groups, kh, kw, sh, sw, dh, dw, bias, multiplier, shift, y_zp,
                          lo, hi, mode, acc_dtype_like, out, overflow):
    """xc: centred, padded input [N, C, Hp, Wp] int32; channel oc's taps are
    tap_k / tap_w[starts[oc]:starts[oc + 1]] (a multiple of four long); out: [N, Cout, OH, OW]
    integers; overflow: [N·Cout] flags (int64 accumulators only)."""
    n_batch, cout, oh, ow = out.shape
    plane_w = xc.shape[3]
    offset, room = _tap_offsets(tap_k, kh, kw, dh, dw, xc.shape[2], plane_w)
    width = accumulator_width(sh, sw, plane_w, ow)
    xflat = xc.ravel()
    for task in prange(n_batch * cout):
        n, oc, base = task_input(xc, cout, groups, task)
        taps = slice(starts[oc], starts[oc + 1])
        acc = np.full(oh * width, bias[oc], acc_dtype_like.dtype)
        accumulate(acc, xflat, base, tap_w[taps], offset[taps], room[taps], oh, ow, sh, sw, plane_w)
        requantize_checked(acc, width, multiplier[oc], shift[oc], y_zp, lo, hi, mode, out, n, oc, overflow, task)
