"""Training batches for qat, from what the user gives:

- `data=None`: the pipeline's calibration data (ctx.calibration, any form `calibrate`
  accepts), without labels: the loss is then distillation to the float model's outputs;
- `(x, y)` arrays or tensors: shuffled mini-batches of `batch` samples, labels y;
- a DataLoader or any re-iterable of `x` or `(x, y)` batches (its own batch size and
  order; seed the loader's generator for a reproducible order).

Each epoch yields (inputs: list of tensors, labels: tensor or None).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from qcompiler.ir.core import Graph

from ..calibration.data import calibration_batches
from .errors import QATError


class TrainingData:
    def __init__(self, data, graph: Graph, calibration, batch: int, generator: torch.Generator):
        self.graph, self.batch, self.generator = graph, batch, generator
        self.loader = None
        if data is None:
            if calibration is None:
                raise QATError("qat needs training data: give data=(x, y) or a DataLoader to the qat pass, or "
                               "calibration=... to compile (then qat distils the float model's outputs)")
            batches = list(calibration_batches(calibration, graph, batch=batch)[0])
            self.arrays = [_tensor(np.concatenate([b[v.name] for b in batches])) for v in graph.inputs]
            self.labels = None
        elif isinstance(data, tuple) and len(data) == 2 and all(_is_array(a) for a in data):
            self.arrays, self.labels = [_tensor(data[0])], _tensor(data[1])
            if len(self.arrays[0]) != len(self.labels):
                raise QATError(f"qat: data=(x, y) has {len(self.arrays[0])} samples and {len(self.labels)} labels")
        elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
            self.loader = data
        else:
            raise QATError(f"qat: data of type {type(data).__name__} is not supported; give (x, y) arrays, a "
                           "DataLoader of x or (x, y) batches, or nothing (calibration data, distilled)")
        if data is not None and len(graph.inputs) != 1:
            raise QATError(f"qat: graph @{graph.name} has {len(graph.inputs)} inputs; data= feeds one (give the "
                           "data as calibration=... arrays by input name instead)")

    def batches_per_epoch(self) -> int:
        """For a learning-rate schedule; a DataLoader must have a length."""
        if self.loader is None:
            return -(-len(self.arrays[0]) // self.batch)
        if not hasattr(self.loader, "__len__"):
            raise QATError("qat: schedule=cosine needs the number of batches per epoch; the data iterable "
                           f"({type(self.loader).__name__}) has no len()")
        return len(self.loader)

    def epoch(self):
        if self.loader is not None:
            for k, item in enumerate(self.loader):
                yield _loader_item(item, k)
            return
        count = len(self.arrays[0])
        order = torch.randperm(count, generator=self.generator)
        for start in range(0, count, self.batch):
            pick = order[start:start + self.batch]
            yield [a[pick] for a in self.arrays], None if self.labels is None else self.labels[pick]


def _loader_item(item, k: int):
    if _is_array(item):
        return [_tensor(item)], None
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(_is_array(a) for a in item):
        return [_tensor(item[0])], _tensor(item[1])
    raise QATError(f"qat: batch {k} of the DataLoader is a {type(item).__name__}; expected a tensor x or a pair "
                   "(x, y)")


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or isinstance(x, torch.Tensor)


def _tensor(x) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.float() if t.is_floating_point() else t
