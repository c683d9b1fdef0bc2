"""Integer 2-D convolution with a group-wise weight (qcompiler/ir/ops/quant_group.py).

Each weight block (`group` input channels at one kernel position) is a short run of
taps with its own multiplier: per (batch, output channel) task, the block's partial
sums go through the same tap loops as the per-channel kernel (`conv.accumulate_*`)
into an int32 plane (the verifier proved a block's sum fits), which is then multiplied
by the block's multiplier into the int64 fixed-point plane; the bias enters that plane
times the channel's largest multiplier, and one rounding shift per output requantizes.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .conv import accumulate, accumulator_width, task_input
from .rounding import requantize_scaled_one


@njit(parallel=True, cache=True)
def qconv2d_grouped_kernel(xc, w, offset, room, groups, sh, sw, bias, block_multiplier, bias_multiplier, shift,
                           y_zp, lo, hi, mode, out):
    """xc: centred, padded input [N, C, Hp, Wp] int32; w: centred weights [Cout, blocks, taps]
    int32 (taps per block padded to a multiple of four with zeros); offset, room: [blocks,
    taps] tap geometry within one conv group's input planes; block_multiplier: [Cout,
    blocks] int64; bias, bias_multiplier, shift: [Cout]; out: [N, Cout, OH, OW] integers."""
    n_batch, cout, oh, ow = out.shape
    plane_w = xc.shape[3]
    width = accumulator_width(sh, sw, plane_w, ow)
    xflat = xc.ravel()
    for task in prange(n_batch * cout):
        n, oc, base = task_input(xc, cout, groups, task)
        total = np.full(oh * width, np.int64(bias[oc]) * bias_multiplier[oc], np.int64)
        partial = np.empty(oh * width, np.int32)
        for g in range(w.shape[1]):
            partial[:] = 0
            accumulate(partial, xflat, base, w[oc, g], offset[g], room[g], oh, ow, sh, sw, plane_w)
            m = block_multiplier[oc, g]
            for p in range(partial.size):
                total[p] += np.int64(partial[p]) * m
        for oy in range(oh):
            for ox in range(ow):
                out[n, oc, oy, ox] = requantize_scaled_one(total[oy * width + ox], shift[oc], y_zp, lo, hi, mode)
