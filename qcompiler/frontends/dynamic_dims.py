"""The `dynamic_dims` option shared by both frontends: which input dims stay symbolic.

    dynamic_dims={"x": {0: "N", 3: "W"}}     # by input name
    dynamic_dims={0: {3: "W"}}               # by input position

A dim listed here is symbolic (named by the given symbol) in the imported graph, so the
compiled model runs at any size there; the example inputs only give calibration its
values. `dynamic_batch=True` is the shortcut that adds {0: "N"} to every input (an ONNX
input keeps dim 0 as its file declares it). The same symbol on two inputs says the two
sizes are equal.
"""
from __future__ import annotations

import re
from typing import Mapping, Optional, Sequence, Union

from ..ir.errors import FrontendError

DynamicDims = Mapping[Union[str, int], Mapping[int, str]]

_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def dims_per_input(spec: Optional[DynamicDims], names: Sequence[str], ranks: Sequence[int],
                   source: str) -> list[dict]:
    """One {axis: symbol} per input (in `names` order, axes made non-negative), checked
    against the inputs' names and ranks."""
    per_input: list[dict] = [{} for _ in names]
    if spec is None:
        return per_input
    if not isinstance(spec, Mapping):
        raise FrontendError(f"dynamic_dims must map an input (name or position) to {{axis: symbol}}, "
                            f"got {type(spec).__name__}")
    for key, axes in spec.items():
        i = _input_index(key, names, source)
        if not isinstance(axes, Mapping):
            raise FrontendError(f"dynamic_dims[{key!r}] must map axes to symbols like {{0: 'N', 3: 'W'}}, "
                                f"got {axes!r}")
        for axis, symbol in axes.items():
            rank = ranks[i]
            if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank:
                raise FrontendError(f"dynamic_dims[{key!r}]: axis {axis!r} is not an axis of input "
                                    f"'{names[i]}' (rank {rank})")
            if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol):
                raise FrontendError(f"dynamic_dims[{key!r}][{axis}]: the symbol must be a name like 'W' "
                                    f"(letters, digits, '_', '.'), got {symbol!r}")
            per_input[i][axis % rank] = symbol
    return per_input


def _input_index(key, names: Sequence[str], source: str) -> int:
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(names):
        return key
    if isinstance(key, str) and key in names:
        return list(names).index(key)
    raise FrontendError(f"dynamic_dims names input {key!r}, but {source} takes {len(names)} inputs "
                        f"({', '.join(names)}); give a name or a position")
