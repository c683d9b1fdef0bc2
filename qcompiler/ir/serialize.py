"""`.qir` files: the printed graph, plus its large arrays in an `.npz` next to it.

`save_qir(g, "model.qir")` writes `model.qir` and `model.npz` (blob K is the array
named "K"); `load_qir` reads both back without unpickling anything. A save replaces
both or neither: a failure while writing leaves the old pair, and the old `.qir` goes
before the new pair is renamed in, so a save cut short between the two renames leaves
no `.qir` to load with the wrong arrays (atomic_write.atomic_directory).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..atomic_write import atomic_directory
from .array_files import ArrayFileError, numbered_arrays
from .core import Graph
from .errors import ParseError
from .parser import parse
from .printer import print_graph


def blobs_path(path) -> Path:
    return Path(path).with_suffix(".npz")


def save_qir(graph: Graph, path) -> None:
    path = Path(path)
    with atomic_directory(path.parent, marker=path.name) as partial:  # the .npz, then the .qir that reads it
        write_qir(graph, partial / path.name)


def write_qir(graph: Graph, path) -> None:
    """save_qir's two files written in place, for a directory that is itself being filled
    to be moved into place (a compiled model's save)."""
    path = Path(path)
    blobs: list = []
    text = print_graph(graph, blobs)
    np.savez(blobs_path(path), **{str(k): np.asarray(b) for k, b in enumerate(blobs)})
    path.write_text(text)


def load_qir(path, verify: bool = True) -> Graph:
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:  # located like a parse error: the line and column of the bad byte
        before = raw[:e.start].decode("utf-8")
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        raise ParseError(f"byte 0x{raw[e.start]:02x} is not UTF-8 (.qir files are UTF-8 text)", line, column,
                         str(path)) from None
    return parse(text, load_blobs(path), source=str(path), verify=verify)


def load_blobs(path) -> Optional[list]:
    """The arrays of the `.npz` next to the `.qir` at `path`, or None if there is none."""
    npz = blobs_path(path)
    if not npz.is_file():
        return None
    try:
        return numbered_arrays(npz)
    except ArrayFileError as e:
        raise ParseError(f"cannot read the blobs in {e}", 0, 0, str(path)) from None
