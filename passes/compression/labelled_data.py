"""Labelled training batches for the re-training passes, from `PassContext.calibration`.

Accepted forms (labels are class indices for a [N, classes] output, trained with cross
entropy, or floats of the output's shape, trained with mean squared error):
- batches, each a tuple/list (inputs..., labels) — a DataLoader over (x, y) works — or a
  dict of input name -> array plus "labels";
- one dict of input name -> array of every sample plus "labels": cut into batches of
  `batch` samples.
Inputs are validated like calibration data (passes/calibration/data.py). The (x, y)
batches are also what `calibrate` accepts (it reads the leading inputs), so one
`calibration=` serves a whole pipeline; calibrate rejects the "labels" key of a dict.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

from qcompiler.ir.core import Graph

from ..calibration.data import calibration_batches
from .errors import CompressionError

LABELS = "labels"
FORMS = f"(inputs..., labels) batches such as a DataLoader of (x, y), or a dict of input name -> array plus '{LABELS}'"


class LabelError(CompressionError):
    """Re-training needs labels the data does not carry, or labels that do not fit the graph."""


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or hasattr(x, "detach")


def _numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)


def labelled_batches(data, graph: Graph, batch: int, who: str) -> list:
    """[(input tensors in graph order, label tensor)] for every batch of `data`."""
    if data is None:
        raise LabelError(f"{who} re-trains on labelled data: pass calibration=... ({FORMS})")
    if isinstance(data, Mapping):
        pairs = _split(_whole(data, who), graph, batch)
    elif _is_array(data) or isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise LabelError(f"{who}: calibration data of type {type(data).__name__} carries no labels; give {FORMS}")
    else:
        pairs = [_batch(item, graph, k, who) for k, item in enumerate(data)]
    if not pairs:
        raise LabelError(f"{who}: the labelled data is empty")
    inputs = calibration_batches([p[0] for p in pairs], graph)[0]
    return [([torch.from_numpy(np.ascontiguousarray(a)) for a in arrays.values()], _labels(labels))
            for arrays, (_, labels) in zip(inputs, pairs)]


def _whole(data: Mapping, who: str) -> tuple:
    if LABELS not in data:
        raise LabelError(f"{who}: the calibration dict has no '{LABELS}' entry; give {FORMS}")
    return {k: v for k, v in data.items() if k != LABELS}, data[LABELS]


def _split(whole: tuple, graph: Graph, batch: int) -> list:
    inputs, labels = whole
    inputs, labels = {k: _numpy(a) for k, a in inputs.items()}, _numpy(labels)
    static = graph.inputs[0].type.shape[0] if graph.inputs[0].type.shape else 1
    size = static if isinstance(static, int) else batch
    return [({k: a[s:s + size] for k, a in inputs.items()}, labels[s:s + size])
            for s in range(0, len(labels) - size + 1 if isinstance(static, int) else len(labels), size)]


def _batch(item, graph: Graph, k: int, who: str) -> tuple:
    n = len(graph.inputs)
    if isinstance(item, Mapping) and LABELS in item:
        return {key: a for key, a in item.items() if key != LABELS}, _numpy(item[LABELS])
    if isinstance(item, (tuple, list)) and len(item) == n + 1:
        return {v.name: a for v, a in zip(graph.inputs, item)}, _numpy(item[-1])
    got = f"{len(item)} elements" if isinstance(item, (tuple, list)) else type(item).__name__
    raise LabelError(f"{who}: batch {k} carries no labels (got {got}; the graph takes {n} input"
                     f"{'s' if n != 1 else ''}); give {FORMS}")


def _labels(labels: np.ndarray) -> torch.Tensor:
    if labels.dtype.kind in "iu":
        return torch.from_numpy(labels.astype(np.int64))
    return torch.from_numpy(np.ascontiguousarray(labels, np.float32))


def loss_fn(output: torch.Tensor, labels: torch.Tensor, who: str) -> torch.Tensor:
    """Cross entropy for class indices against [N, classes] logits, else mean squared error."""
    if labels.dtype == torch.int64:
        if output.dim() != 2 or labels.shape != output.shape[:1]:
            raise LabelError(f"{who}: class labels of shape {list(labels.shape)} do not fit the graph output of "
                             f"shape {list(output.shape)} (expected [N, classes] logits and [N] labels)")
        return torch.nn.functional.cross_entropy(output, labels)
    if labels.shape != output.shape:
        raise LabelError(f"{who}: float labels of shape {list(labels.shape)} differ from the graph output's "
                         f"{list(output.shape)}")
    return torch.mean((output - labels) ** 2)
