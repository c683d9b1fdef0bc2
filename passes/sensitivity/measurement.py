"""What every metric works from: the layers, the torch model, the data batches with
their float outputs, Q_b(W) for each layer and width, and the loss."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from qcompiler.ir.core import Graph

from .data import Batch
from .layers import Layer, quantized_weight
from .loss import kl_to_reference, task_loss
from .torch_model import TorchModel


@dataclass
class Measurement:
    graph: Graph
    layers: list
    model: TorchModel
    batches: list
    bits: tuple
    weight_symmetric: bool
    activation_symmetric: bool
    generator: torch.Generator  # seeded: random probes and sampled labels repeat
    iterations: int
    tol: float
    _quantized: dict = field(default_factory=dict, init=False, repr=False)  # (layer, bits) -> Q_b(W)
    _reference: dict = field(default_factory=dict, init=False, repr=False)  # batch -> float outputs

    @property
    def samples(self) -> int:
        return sum(b.size for b in self.batches)

    def reference(self, k: int) -> tuple:
        """Float outputs of batch k."""
        if k not in self._reference:
            with torch.no_grad():
                self._reference[k] = tuple(o.detach() for o in self.model(self.batches[k].inputs))
        return self._reference[k]

    def quantized(self, layer: Layer, bits: int) -> dict:
        """Q_b(W) for each weight of `layer`: id(Value) -> tensor."""
        key = (layer.name, bits)
        if key not in self._quantized:
            self._quantized[key] = {id(u.weight): torch.from_numpy(quantized_weight(self.graph, u, bits, self.weight_symmetric))
                                    for u in layer.weights}
        return self._quantized[key]

    def float_weights(self, layer: Layer) -> dict:
        return {id(u.weight): self.model.float_weight(u) for u in layer.weights}

    def squared_error(self, layer: Layer, bits: int) -> float:
        """||Q_b(W) − W||² over the layer's weights."""
        q, w = self.quantized(layer, bits), self.float_weights(layer)
        return float(sum(np.sum(np.square((q[k] - w[k]).double().numpy())) for k in q))

    def loss(self, k: int, weights: Optional[dict] = None, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Loss of batch k with `weights` swapped in; `labels` override the batch's."""
        return self.loss_of_outputs(k, self.model(self.batches[k].inputs, weights), labels)

    def loss_of_outputs(self, k: int, outputs: tuple, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The loss of batch k given the model's outputs on it."""
        batch: Batch = self.batches[k]
        labels = batch.labels if labels is None else labels
        return task_loss(outputs, labels) if labels is not None else kl_to_reference(outputs, self.reference(k))

    def fractions(self) -> list:
        """Each batch's share of the samples: the weights of a mean over all of them."""
        return [b.size / self.samples for b in self.batches]
