"""The BatchNorm statistics a float graph was trained on, and how far a batch is from them.

Every `batch_norm` node with constant running statistics is a target: the batch mean and
standard deviation of its input, per channel (axis 1), should equal the running mean and
sqrt(var + eps). The loss is scale-free, so wide and narrow layers weigh alike:

    mean over layers and channels of ((mu - mu_run)^2 + (sd - sd_run)^2) / sd_run^2
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qcompiler.ir.core import Graph, Node, Value

from .errors import DataFreeError


@dataclass(frozen=True)
class BatchNormTarget:
    node: str  # the batch_norm node's label, for messages
    input: Value  # what the statistics describe: the batch_norm's operand
    mean: torch.Tensor
    std: torch.Tensor
    eps: float


def batch_norm_targets(graph: Graph) -> list[BatchNormTarget]:
    nodes = [n for n in graph.nodes if n.op == "batch_norm"]
    if not nodes:
        raise DataFreeError(f"graph @{graph.name} has no BatchNorm statistics to match (no batch_norm node): "
                            "synthetic calibration needs a model trained with BatchNorm, read before fold-bn "
                            "folds it; give real calibration data instead")
    return [_target(graph, n) for n in nodes]


def _target(graph: Graph, node: Node) -> BatchNormTarget:
    mean, var = (graph.const_value(v) for v in node.inputs[3:5])
    if mean is None or var is None:
        raise DataFreeError(f"node {node.label()}: batch_norm statistics are not constants; synthetic calibration "
                            "matches fixed running statistics")
    eps = float(node.attrs.get("eps", 1e-5))
    mean = torch.tensor(np.array(mean, dtype=np.float32)).reshape(-1)
    std = torch.sqrt(torch.tensor(np.array(var, dtype=np.float32)).reshape(-1) + eps)
    return BatchNormTarget(node.label(), node.inputs[0], mean, std, eps)


def statistics_loss(activations: list[torch.Tensor], targets: list[BatchNormTarget]) -> torch.Tensor:
    """The scale-free distance of the batch statistics of `activations` (the operands of
    the targets' batch norms, in order) from the running ones."""
    losses = []
    for a, t in zip(activations, targets):
        dims = [d for d in range(a.dim()) if d != 1]
        mean = a.mean(dims)
        std = torch.sqrt(a.var(dims, unbiased=False) + t.eps)
        losses.append((((mean - t.mean) ** 2 + (std - t.std) ** 2) / t.std ** 2).mean())
    return torch.stack(losses).mean()
