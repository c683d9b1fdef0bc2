"""The shape of a synthetic batch for each graph input: the declared shape, with the
batch dim set to the batch being made (a static batch dim keeps its size) and any other
symbolic dim taken from the example inputs (an ONNX text-line model declares its width
as '?')."""
from __future__ import annotations

from typing import Any

from qcompiler.ir.core import Graph
from qcompiler.ir.types import is_float

from .errors import DataFreeError


def input_shapes(graph: Graph, batch: int, example_inputs: Any = None) -> list[tuple]:
    examples = _example_shapes(example_inputs)
    shapes = []
    for k, v in enumerate(graph.inputs):
        if not is_float(v.type):
            raise DataFreeError(f"input %{v.name} of graph @{graph.name} is {v.type}: synthetic calibration "
                                "optimises float inputs only")
        dims = list(v.type.shape)
        if not dims:
            raise DataFreeError(f"input %{v.name} is a scalar: synthetic samples are stacked along dim 0")
        shape = [dims[0] if isinstance(dims[0], int) else batch]
        for i, d in enumerate(dims[1:], start=1):
            if isinstance(d, int):
                shape.append(d)
            elif k < len(examples) and len(examples[k]) == len(dims):
                shape.append(int(examples[k][i]))
            else:
                raise DataFreeError(f"input %{v.name} has symbolic dim {i} ({d!r}) in {dims}: give example_inputs "
                                    "to fix the size of the synthetic samples")
        shapes.append(tuple(shape))
    return shapes


def _example_shapes(example_inputs: Any) -> list[tuple]:
    if example_inputs is None:
        return []
    items = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    return [tuple(getattr(x, "shape", ())) for x in items]
