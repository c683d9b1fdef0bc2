"""Accuracy and loss of a graph on labelled validation data, run by the torch executor
(a fake-quant graph runs as it is simulated: weights dequantized, activations
fake-quantized where they are produced).

Data: `(inputs, labels)`, inputs one array (a single-input graph), a tuple/list of
arrays in graph-input order, or a dict by input name; labels one per sample. The loss
is the task loss of passes/sensitivity/loss.py (cross entropy for class labels, MSE
for float targets, on the first output); class labels also give the top-1 accuracy.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..ir.core import Graph
from ..ir.errors import QIRError
from ..passes.calibration.data import calibration_batches
from ..passes.calibration.errors import CalibrationError
from ..passes.sensitivity.errors import SensitivityError
from ..passes.sensitivity.loss import per_sample_task_loss
from ..runtime.reference import as_float, bind_inputs
from ..runtime.torch import to_torch

BATCH = 256


class ValidationError(QIRError):
    """Validation data that is missing labels or does not fit the graph."""


@dataclass(frozen=True)
class Score:
    accuracy: float | None  # top-1, with class labels only
    loss: float


def inputs_and_labels(data) -> tuple:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValidationError("validation data must be an (inputs, labels) pair")
    return data[0], data[1]


class ValidationSet:
    def __init__(self, graph: Graph, data, batch: int = BATCH):
        inputs, labels = inputs_and_labels(data)
        labels = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
        try:
            stream, _ = calibration_batches(_by_name(graph, inputs), graph, batch=batch)
            self.batches = [[chunk[v.name] for v in graph.inputs] for chunk in stream]
        except CalibrationError as e:
            raise ValidationError(f"validation data: {e}") from None
        count = sum(len(b[0]) for b in self.batches)
        if not count:
            raise ValidationError("validation data holds no samples")
        if len(labels) < count:
            raise ValidationError(f"validation data has {count} samples but {len(labels)} labels")
        self.labels = np.split(labels[:count], np.cumsum([len(b[0]) for b in self.batches])[:-1])
        self.classes = labels.dtype.kind in "iu"

    def score(self, graph: Graph) -> Score:
        module = to_torch(graph)
        total = correct = 0.0
        count = 0
        with torch.no_grad():
            for arrays, labels in zip(self.batches, self.labels):
                env = bind_inputs(graph, arrays)
                outputs = module(*(torch.from_numpy(np.array(as_float(env[id(v)], v.type))) for v in graph.inputs))
                target = torch.from_numpy(np.ascontiguousarray(labels))
                try:
                    total += float(per_sample_task_loss(outputs, target).sum())
                except SensitivityError as e:
                    raise ValidationError(f"validation labels: {e}") from None
                if self.classes:
                    correct += float((outputs[0].argmax(dim=1) == target).sum())
                count += len(labels)
        return Score(correct / count if self.classes else None, total / count)


def _by_name(graph: Graph, inputs) -> dict:
    if isinstance(inputs, Mapping):
        return dict(inputs)
    items = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    if len(items) != len(graph.inputs):
        raise ValidationError(f"validation data has {len(items)} input arrays, graph @{graph.name} takes "
                              f"{len(graph.inputs)} ({', '.join('%' + v.name for v in graph.inputs)})")
    return {v.name: x for v, x in zip(graph.inputs, items)}
