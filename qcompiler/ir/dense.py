"""Immutable, hashable numpy arrays for use inside frozen types and attributes."""
from __future__ import annotations

import hashlib

import numpy as np


class Dense:
    """A read-only numpy array compared by dtype, shape and contents.

    Quantized types carry scales and zero points; types are frozen and hashable, so
    the arrays inside them must be too.
    """

    __slots__ = ("array", "_hash")

    def __init__(self, array):
        arr = np.array(array, copy=True)
        arr.flags.writeable = False
        self.array = arr
        self._hash = None

    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def size(self) -> int:
        return self.array.size

    def digest(self) -> str:
        h = hashlib.sha1()
        h.update(str(self.array.dtype).encode())
        h.update(str(self.array.shape).encode())
        array = self.array
        if array.dtype.kind == "f":  # what __eq__ equates must hash alike: -0.0 and 0.0, every NaN
            array = np.where(np.isnan(array), np.nan, array + 0.0).astype(array.dtype)
        h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()

    def __eq__(self, other) -> bool:
        if not isinstance(other, Dense):
            return NotImplemented
        a, b = self.array, other.array
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.digest())
        return self._hash

    def __repr__(self) -> str:
        if self.array.size <= 8:
            return f"Dense({self.array.tolist()!r}, {self.array.dtype})"
        return f"Dense(<{self.array.dtype}{list(self.array.shape)}>)"
