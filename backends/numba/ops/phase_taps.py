"""Where a strided convolution's taps read in a phase-split input: the padded map [Hp, Wp]
stored as sh·sw phase planes (pixel (y, x) in plane (y % sh)·sw + x % sw at position
(y // sh)·ws + x // sw), so every tap of every output position reads its plane at a fixed
shift from the output position, and a tile of `width` consecutive output positions reads
consecutive positions. Shared by the bit-serial and the paired-position kernels' layouts."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class PhaseTaps(NamedTuple):
    ws: int             # row pitch of a phase plane
    length: int         # positions per phase plane, with the slack the last tile reads past its row
    phase: np.ndarray   # int [kh·kw]: the phase plane each tap reads
    shift: np.ndarray   # int [kh·kw]: positions from the output position in that plane
    used: np.ndarray    # uint8 [sh·sw]: the phase planes some tap reads


def phase_taps(hw: tuple, stride: tuple, dilation: tuple, kernel: tuple, oh: int, width: int) -> PhaseTaps:
    (sh, sw), (dh, dw), (kh, kw) = stride, dilation, kernel
    hp, wp = hw
    ws = -(-wp // sw)
    rows_over, cols_over = (kh - 1) * dh // sh, (kw - 1) * dw // sw
    length = max(-(-hp // sh) * ws, -(-(oh * ws) // width) * width + rows_over * ws + cols_over)
    ky, kx = np.meshgrid(np.arange(kh) * dh, np.arange(kw) * dw, indexing="ij")
    phase = ((ky % sh) * sw + kx % sw).reshape(-1)
    shift = ((ky // sh) * ws + kx // sw).reshape(-1)
    used = np.zeros(sh * sw, np.uint8)
    used[phase] = 1
    return PhaseTaps(ws, length, phase, shift, used)
