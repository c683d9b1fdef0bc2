"""What a bit configuration costs in accuracy, measured: the graph run by the torch
executor with every layer's weights fake-quantized at its width (per output channel,
as the quantizer will; b1 as sign × mean magnitude), activations in float, on
validation batches (passes/sensitivity/data.py: `ctx.calibration`, labels from
(inputs, labels) batches or `ctx.options["labels"]`).

The loss is the task loss with labels (cross entropy / MSE on the first output), else
the KL divergence from the float model's outputs; with class labels the top-1
accuracy comes along. Fake-quantized weights are made once per (layer, width)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from ..sensitivity.layers import quantized_weight
from ..sensitivity.loss import kl_to_reference, per_sample_task_loss
from ..sensitivity.torch_model import TorchModel
from .group_sensitivity import binary_weight


@dataclass(frozen=True)
class Measurement:
    loss: float
    accuracy: Optional[float]  # top-1, with class labels only


class MeasuredLoss:
    def __init__(self, graph, layers: list, batches: list, weight_symmetric: bool):
        self.graph, self.layers, self.batches = graph, layers, batches
        self.symmetric = weight_symmetric
        self.model = TorchModel(graph, layers)
        self.reference = float_reference(self.model, batches)
        self._weights: dict = {}

    def __call__(self, bits: Sequence[int]) -> Measurement:
        """The loss (and accuracy) with layer i's weights at bits[i] bits."""
        weights = {id(use.weight): self._quantized(use, b) for layer, b in zip(self.layers, bits) for use in layer.weights}
        return score(lambda inputs: self.model(inputs, weights), self.batches, self.reference)

    def _quantized(self, use, bits: int) -> torch.Tensor:
        key = (id(use.weight), bits)
        if key not in self._weights:
            if bits == 1:
                array = binary_weight(self.graph.const_value(use.weight), use.axis)
            else:
                array = quantized_weight(self.graph, use, bits, self.symmetric)
            self._weights[key] = torch.from_numpy(array).to(self.model.float_weight(use).dtype)
        return self._weights[key]


def float_reference(run, batches: list) -> Optional[list]:
    """The float model's outputs per batch, which the KL is measured against when the
    batches have no labels (None when they have)."""
    if all(b.labels is not None for b in batches):
        return None
    with torch.no_grad():
        return [run(b.inputs) for b in batches]


def score(run, batches: list, reference: Optional[list]) -> Measurement:
    """The mean task loss over `batches` of `run(inputs) -> outputs` (and top-1 with class
    labels), or without labels the mean KL divergence from `reference`."""
    classes = reference is None and not batches[0].labels.is_floating_point()
    total = correct = 0.0
    count = 0
    with torch.no_grad():
        for k, batch in enumerate(batches):
            outputs = run(batch.inputs)
            if reference is None:
                total += float(per_sample_task_loss(outputs, batch.labels).sum())
                if classes:
                    correct += float((outputs[0].argmax(dim=1) == batch.labels).sum())
            else:
                total += float(kl_to_reference(outputs, reference[k])) * batch.size
            count += batch.size
    return Measurement(total / count, correct / count if classes else None)
