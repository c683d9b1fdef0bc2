"""The float graph as a differentiable torch module that also returns what synthesis
watches: the operand of every batch_norm and, for a classifier, the class logits.

The graph is the one before fold-bn (docs/datafree.md, "Where the statistics come
from"); it runs through the torch executor, so torch modules, ONNX files and .qir graphs
take the same path. Weights are frozen: only the inputs (or a generator) learn.
"""
from __future__ import annotations

from typing import Optional

import torch

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph, Value
from qcompiler.ir.registry import is_opaque
from qcompiler.runtime.torch import to_torch

from .errors import DataFreeError
from .statistics import BatchNormTarget, batch_norm_targets


class FloatProbe(torch.nn.Module):
    """forward(*inputs) -> (logits or None, [batch_norm operands in graph order])."""

    def __init__(self, graph: Graph, with_logits: bool = False):
        super().__init__()
        opaque = [n for n in graph.nodes if is_opaque(n.op)]
        if opaque:
            raise DataFreeError(f"node {opaque[0].label()} runs in onnxruntime, without gradients: synthetic "
                                "calibration differentiates the float model; give real calibration data")
        copy = clone(graph)
        self.targets: list[BatchNormTarget] = batch_norm_targets(copy)
        logits = [_class_logits(copy)] if with_logits else []
        copy.set_outputs(logits + [t.input for t in self.targets])
        self.module = to_torch(copy)
        self.module.requires_grad_(False)
        self.with_logits = with_logits
        self.classes = int(logits[0].type.shape[1]) if with_logits else 0

    def forward(self, *inputs) -> tuple[Optional[torch.Tensor], list]:
        outputs = list(self.module(*inputs))
        logits = outputs.pop(0) if self.with_logits else None
        return logits, outputs


def _class_logits(graph: Graph) -> Value:
    """The first graph output as logits [N, classes]: the operand of a final softmax (a
    cross-entropy on probabilities would saturate), else the output itself."""
    out = graph.outputs[0]
    if out.producer is not None and out.producer.op in ("softmax", "log_softmax"):
        out = out.producer.inputs[0]
    shape = out.type.shape if hasattr(out.type, "shape") else ()
    if len(shape) != 2 or not isinstance(shape[1], int) or shape[1] < 2:
        raise DataFreeError(f"synthetic=cgan needs a classifier: output %{graph.outputs[0].name} of graph "
                            f"@{graph.name} has shape {list(shape)}, expected [N, classes]; use synthetic=zeroq")
    return out
