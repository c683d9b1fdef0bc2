"""What every model-reading command shares: the MODEL argument and its shape options,
and the error for options that do not fit together."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..ir.errors import QIRError


class UsageError(QIRError):
    """Options that do not fit together."""


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a .onnx or .qir file, or 'package.module:factory' returning a torch model")
    p.add_argument("--input-shape", help="input shape, e.g. 1,3,224,224: torch models are traced on it, ONNX "
                                         "models take it where their file leaves a dim open")
    p.add_argument("--dynamic-dim", action="append", metavar="INPUT:AXIS=SYMBOL",
                   help="keep this input dim symbolic, e.g. x:3=W or 0:3=W (input by name or position); repeat "
                        "for several. ONNX files keep the dims they declare symbolic without it")


def parse_dynamic_dims(texts) -> dict | None:
    """`--dynamic-dim x:3=W` flags -> {"x": {3: "W"}} (a numeric input is a position)."""
    if not texts:
        return None
    dims: dict = {}
    for text in texts:
        where, sep, symbol = text.partition("=")
        name, colon, axis = where.rpartition(":")
        if not sep or not colon or not name or not symbol.strip():
            raise UsageError(f"--dynamic-dim {text!r}: expected INPUT:AXIS=SYMBOL, e.g. x:3=W")
        try:
            axis = int(axis)
        except ValueError:
            raise UsageError(f"--dynamic-dim {text!r}: the axis {axis!r} is not an integer") from None
        key = int(name) if name.isdigit() else name
        dims.setdefault(key, {})[axis] = symbol.strip()
    return dims


def example_input(model: str, text):
    """The tensor `--input-shape` describes. A file model only reads its shape, so it gets
    a zero-stride view that holds no memory whatever the shape; a torch model is traced on
    random values."""
    from ..model.loading import parse_shape

    shape = parse_shape(text)
    if shape is None:
        return None
    import torch

    if Path(model).suffix.lower() in (".onnx", ".qir"):
        return torch.zeros((), dtype=torch.float32).expand(shape)
    return torch.randn(shape)
