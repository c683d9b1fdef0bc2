"""Names and initializers added to an onnx-ir graph after the export walk (the
channels-last rewrite), where the builder's bookkeeping is gone."""
from __future__ import annotations

import numpy as np
import onnx_ir as ir


class GraphAdditions:
    """Fresh value names (`<value>:nhwc`, ...) that collide with none in `graph`, and new
    initializers under them."""

    def __init__(self, graph: ir.Graph):
        self.taken = {v.name for v in [*graph.inputs, *graph.initializers.values()]}
        self.taken.update(v.name for node in graph for v in node.outputs)
        self.graph = graph

    def fresh(self, hint: str) -> str:
        name, k = hint, 0
        while name in self.taken:
            k += 1
            name = f"{hint}_{k}"
        self.taken.add(name)
        return name

    def ints(self, values, hint: str) -> ir.Value:
        return self.array(np.asarray(values, np.int64), hint)

    def array(self, array: np.ndarray, hint: str) -> ir.Value:
        name = self.fresh(hint)
        v = ir.Value(name=name, type=ir.TensorType(ir.DataType.from_numpy(array.dtype)), shape=ir.Shape(array.shape),
                     const_value=ir.tensor(array, name=name))
        self.graph.register_initializer(v)
        return v
