"""`.qir` files: the printed graph, plus its large arrays in an `.npz` next to it.

`save_qir(g, "model.qir")` writes `model.qir` and `model.npz` (blob K is the array
named "K"); `load_qir` reads both back without unpickling anything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .core import Graph
from .errors import ParseError
from .parser import parse
from .printer import print_graph


def blobs_path(path) -> Path:
    return Path(path).with_suffix(".npz")


def save_qir(graph: Graph, path) -> None:
    path = Path(path)
    blobs: list = []
    text = print_graph(graph, blobs)
    path.write_text(text)
    np.savez(blobs_path(path), **{str(k): np.asarray(b) for k, b in enumerate(blobs)})


def load_qir(path, verify: bool = True) -> Graph:
    path = Path(path)
    return parse(path.read_text(), load_blobs(path), source=str(path), verify=verify)


def load_blobs(path) -> Optional[list]:
    """The arrays of the `.npz` next to the `.qir` at `path`, or None if there is none."""
    npz = blobs_path(path)
    if not npz.is_file():
        return None
    try:
        with np.load(npz, allow_pickle=False) as z:
            return [z[str(k)] for k in range(len(z.files))]
    except (ValueError, KeyError, OSError) as e:
        raise ParseError(f"cannot read the blobs in {npz}: {e}", 0, 0, str(path)) from None
