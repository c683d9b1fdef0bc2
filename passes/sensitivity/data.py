"""The samples sensitivity is measured on, with labels when there are any.

Inputs come from `PassContext.calibration` in any form `calibrate` accepts. Labels come
from `ctx.options["labels"]` (one per calibration sample, in order) or from calibration
batches given as (inputs..., labels) tuples, like a DataLoader over (x, y) pairs. The
samples are cut into batches of `batch` (of the input's static batch size if it has one).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from qcompiler.ir.core import Graph

from ..calibration.data import calibration_batches
from ..calibration.errors import CalibrationError
from .errors import SensitivityError


@dataclass(frozen=True)
class Batch:
    inputs: tuple  # torch tensors, in graph-input order
    labels: Optional[torch.Tensor]

    @property
    def size(self) -> int:
        return int(self.inputs[0].shape[0])


def sensitivity_batches(ctx, graph: Graph, samples: int, batch: int) -> list:
    if ctx.calibration is None:
        raise SensitivityError("sensitivity needs data: pass calibration=... (batches of (inputs, labels) "
                               "give the task loss; without labels the KL to the float outputs is used)")
    source, labels = _split_labels(ctx.calibration, len(graph.inputs))
    if labels is None and ctx.options.get("labels") is not None:
        labels = [_numpy(ctx.options["labels"])]
    try:
        stream, _ = calibration_batches(source, graph, samples=samples, batch=batch)
        chunks = list(stream)
    except CalibrationError as e:
        raise SensitivityError(f"sensitivity data: {e}") from None
    arrays = [np.concatenate([c[v.name] for c in chunks])[:samples] for v in graph.inputs]
    count = len(arrays[0])
    label_array = None
    if labels is not None:
        label_array = np.concatenate([np.reshape(a, (-1,) + np.shape(a)[1:]) for a in labels])
        if len(label_array) < count:
            raise SensitivityError(f"sensitivity data has {count} samples but only {len(label_array)} labels")
        label_array = label_array[:count]
    return _batches(graph, arrays, label_array, batch)


def _split_labels(data, n_inputs: int) -> tuple:
    """(inputs only, list of label arrays) when the batches carry labels, else (data, None)."""
    if isinstance(data, (str, bytes, Mapping, np.ndarray)) or hasattr(data, "detach") or not isinstance(data, Iterable):
        return data, None
    items = list(data)  # a DataLoader or generator: read once, used twice below
    labelled = bool(items) and all(isinstance(item, (tuple, list)) and len(item) == n_inputs + 1 for item in items)
    if not labelled:
        return items, None
    return [tuple(item[:n_inputs]) for item in items], [_numpy(item[n_inputs]) for item in items]


def _batches(graph: Graph, arrays: list, labels, batch: int) -> list:
    static = graph.inputs[0].type.shape[0] if graph.inputs[0].type.shape else None
    size = static if isinstance(static, int) else batch
    count = len(arrays[0])
    out = []
    for start in range(0, count - size + 1 if isinstance(static, int) else count, size):
        stop = min(start + size, count)
        inputs = tuple(torch.from_numpy(np.ascontiguousarray(a[start:stop])) for a in arrays)
        out.append(Batch(inputs, None if labels is None else torch.from_numpy(np.ascontiguousarray(labels[start:stop]))))
    return out


def _numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
