"""How a serial kernel over items [first, last) is split into a parallel twin's chunks."""
from __future__ import annotations

from numba import njit


@njit(inline="always", cache=True)
def chunk_bounds(c, chunks, items):
    """Items [first, last) of chunk `c` of `chunks` near-equal chunks of `items` (empty when
    there are more chunks than items)."""
    return c * items // chunks, (c + 1) * items // chunks
