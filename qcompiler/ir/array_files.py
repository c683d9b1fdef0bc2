"""Reading `.npy` / `.npz` files without unpickling, with every way such a file can be
damaged (empty, truncated, not a zip, object arrays, corrupt compression) reported as
one `ArrayFileError` naming the file, never as numpy's or zipfile's own exception."""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import QIRError

_DAMAGE = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class ArrayFileError(QIRError):
    """A `.npy` / `.npz` file that is missing, damaged or holds something else than plain arrays."""


def read_arrays(path) -> dict:
    """{name: array} of an `.npz`, or {"": array} of an `.npy`, read in full (so damage
    anywhere in the file shows here, not at first use)."""
    path = Path(path)
    if not path.is_file():
        raise ArrayFileError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".npy":
            return {"": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except _DAMAGE as e:
        reason = str(e) or type(e).__name__
        if path.stat().st_size == 0:
            reason = "the file is empty"
        raise ArrayFileError(f"{path}: not a file of plain numeric arrays ({reason})") from None


def numbered_arrays(path) -> list:
    """The arrays "0", "1", ... of an `.npz` written as `np.savez(path, *arrays)` style
    (keys are the positions), in order; any other key is damage."""
    arrays = read_arrays(path)
    expected = [str(k) for k in range(len(arrays))]
    if sorted(arrays) != sorted(expected):
        unexpected = sorted(set(arrays) - set(expected))
        raise ArrayFileError(f"{path}: expected arrays named 0..{len(arrays) - 1}, found {', '.join(unexpected)}")
    return [arrays[k] for k in expected]
