"""The user's judge: `validation = (data, metric)` from PassContext.validation, where
`metric(model, data)` scores a model (higher is better, e.g. accuracy in [0, 1]) the way
NNCF's validate_fn does. It returns one number, or one number per validation sample (a
1-D sequence, the score being their mean): per-sample scores let the search tell a drop
from the noise of a small validation set (significance.py). `model(*inputs)` runs a
graph with the torch executor (fake-quant values simulated): inputs are numpy arrays or
tensors in graph-input order, the result is a numpy array, or a tuple of them for
several outputs."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import torch

from qcompiler.ir.core import Graph
from qcompiler.runtime.torch import to_torch

from .errors import AccuracyControlError

NEEDS_VALIDATION = ("accuracy-control needs validation=(data, metric), metric(model, data) -> float or "
                    "per-sample floats "
                    "(qcompiler.compile(..., validation=(data, metric)) or PassContext.validation)")


class GraphModel:
    """A graph as the callable the metric scores."""

    def __init__(self, graph: Graph):
        self.module = to_torch(graph)
        self.names = [v.name for v in graph.inputs]

    def __call__(self, *inputs):
        if len(inputs) != len(self.names):
            raise AccuracyControlError(f"the metric called the model with {len(inputs)} input(s); the graph takes "
                                       f"{len(self.names)} ({', '.join('%' + n for n in self.names)})")
        tensors = [x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
        with torch.no_grad():
            outputs = [y.detach().numpy() for y in self.module(*tensors)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


@dataclass(frozen=True)
class Score:
    value: float                          # the metric: the mean of `samples` when it returned them
    samples: Optional[np.ndarray] = None  # per-sample scores, in the metric's sample order


@dataclass(frozen=True)
class Validation:
    data: Any
    metric: Callable

    @staticmethod
    def from_context(ctx) -> "Validation":
        given = ctx.validation
        if given is None:
            raise AccuracyControlError(NEEDS_VALIDATION)
        if not isinstance(given, (tuple, list)) or len(given) != 2:
            raise AccuracyControlError(f"validation must be a pair (data, metric), got {type(given).__name__}; "
                                       f"{NEEDS_VALIDATION}")
        data, metric = given
        if not callable(metric):
            raise AccuracyControlError(f"the validation metric must be callable as metric(model, data) -> float, "
                                       f"got {type(metric).__name__}")
        return Validation(data, metric)

    def score(self, graph: Graph) -> Score:
        return as_score(self.metric(GraphModel(graph), self.data))


def as_score(value) -> Score:
    """The metric's return value checked: a finite number, or a non-empty 1-D sequence of them."""
    if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)) and np.ndim(value) != 0:
        samples = np.asarray(value.detach() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
        if samples.ndim != 1 or samples.size == 0:
            raise AccuracyControlError(f"the validation metric returned an array of shape {samples.shape}; per-sample "
                                       "scores must be a non-empty 1-D sequence")
        if not np.isfinite(samples).all():
            raise AccuracyControlError(f"the validation metric returned a non-finite per-sample score "
                                       f"(sample {int(np.argmin(np.isfinite(samples)))})")
        return Score(float(samples.mean()), samples)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise AccuracyControlError(f"the validation metric returned {type(value).__name__}, not a number") from None
    if not math.isfinite(value):
        raise AccuracyControlError(f"the validation metric returned {value}, not a finite number")
    return Score(value)
