"""`.qir` files: the printed graph, plus its large arrays in an `.npz` next to it.

`save_qir(g, "model.qir")` writes `model.qir` and `model.npz` (blob K is the array
named "K"); `load_qir` reads both back without unpickling anything.
"""
from __future__ import annotations

from pathlib import Path

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
    text = path.read_text()
    npz = blobs_path(path)
    blobs = None
    if npz.is_file():
        try:
            with np.load(npz, allow_pickle=False) as z:
                blobs = [z[str(k)] for k in range(len(z.files))]
        except (ValueError, KeyError, OSError) as e:
            raise ParseError(f"cannot read the blobs in {npz}: {e}", 0, 0, str(path)) from None
    return parse(text, blobs, source=str(path), verify=verify)
