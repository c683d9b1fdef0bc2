"""What `cm(x)` refuses before running, because the integer kernels would otherwise turn
it into finite, plausible and wrong outputs: NaN/Inf (quantizing clips them to the range
edges; switchable, as checking costs a pass over the data), complex numbers (the cast
drops the imaginary part), indices outside an embedding or gather table (numpy wraps -1
to the last row), and 0 rows for a model whose batch is fixed."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.core import Graph
from ..ir.errors import QIRError


class InputError(QIRError):
    """An input `cm(x)` refuses; the message names the graph input."""


def check_inputs(graph: Graph, arrays: list, static_batch: Optional[int], finite: bool = True) -> None:
    for v, a in zip(graph.inputs, arrays):
        if a.dtype.kind == "c":
            raise InputError(f"input %{v.name} is complex ({a.dtype}); the model computes on real numbers")
        if a.dtype.kind not in "fiub":
            raise InputError(f"input %{v.name} has dtype {a.dtype}; expected numbers")
        if static_batch is not None and a.ndim and a.shape[0] == 0:
            raise InputError(f"input %{v.name} has 0 rows; the model's batch is fixed at {static_batch} "
                             f"(it runs multiples of it)")
        if finite and a.dtype.kind == "f" and a.size and not np.isfinite([a.min(), a.max()]).all():  # NaN propagates
            bad = "NaN" if np.isnan(a).any() else "Inf"
            raise InputError(f"input %{v.name} contains {bad}; the integer model would clip it to a finite value "
                             f"(pass check_inputs=False to skip this check)")
        if a.dtype.kind in "iub" and a.size:
            _check_indices(v, a)


def _check_indices(v, a: np.ndarray) -> None:
    """Index inputs against the tables they pick from: embedding takes 0..rows-1 as
    torch does; gather also takes -size..-1, counting from the end, as ONNX does."""
    lo, hi = int(a.min()), int(a.max())
    for node, position in v.uses:
        if node.op == "embedding" and position == 0:
            rows, low = node.inputs[1].type.shape[0], 0
        elif node.op == "gather" and position == 1:
            rows = node.inputs[0].type.shape[node.attrs.get("axis", 0)]
            low = -rows if isinstance(rows, int) else 0
        else:
            continue
        if isinstance(rows, int) and (lo < low or hi >= rows):
            raise InputError(f"input %{v.name}: indices in [{lo}, {hi}] are out of range for node "
                             f"{node.label()} ({node.op} over {rows} rows: {low}..{rows - 1})")
