"""The graph as a trainable torch module for incremental quantization: the weights being
quantized and their layers' biases are parameters, everything else is fixed. A weight's
frozen part is masked out of its gradient; with a fresh Adam per round (zero moments),
a zero gradient means no update at all, so frozen values stay exactly on the grid.
"""
from __future__ import annotations

import numpy as np
import torch

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.ir.types import is_float
from qcompiler.runtime.torch import to_torch

from .errors import CompressionError
from .labelled_data import loss_fn


class Student:
    """`params[value name]` is the nn.Parameter of that weight or bias constant of `graph`."""

    def __init__(self, graph: Graph, weights: list, who: str):
        copy = clone(graph)
        tokens = {}
        for w in weights:
            tokens[w.value.name] = f"compressed_weight_{len(tokens)}"
            for node in w.layers:
                bias = node.inputs[2] if len(node.inputs) > 2 else None
                if bias is not None and graph.const_value(bias) is not None and is_float(bias.type):
                    tokens.setdefault(bias.name, f"compressed_bias_{len(tokens)}")
        for node in copy.nodes:
            if node.op == "const":  # only the tokened constants become parameters
                node.attrs.pop("origin", None)
                if node.output.name in tokens:
                    node.attrs["origin"] = tokens[node.output.name]
        self.module = to_torch(copy)
        named = dict(self.module.named_parameters())
        missing = [t for t in tokens.values() if t not in named]
        if missing:
            raise CompressionError(f"{who}: the torch executor named no parameter {missing[0]!r} (a value of the "
                                   f"graph takes that name); rename it")
        self.params = {name: named[token] for name, token in tokens.items()}
        self.free = {w.value.name: torch.ones_like(self.params[w.value.name]) for w in weights}
        for name in self.free:
            self.params[name].register_hook(lambda grad, name=name: grad * self.free[name])

    def array(self, name: str) -> np.ndarray:
        return self.params[name].detach().numpy().copy()

    def set_weight(self, name: str, values: np.ndarray, frozen: np.ndarray) -> None:
        with torch.no_grad():
            self.params[name].copy_(torch.from_numpy(np.ascontiguousarray(values)))
        self.free[name] = torch.from_numpy(~frozen).to(self.params[name].dtype)


class Trainer:
    def __init__(self, student: Student, batches: list, lr: float, seed: int, who: str):
        self.student, self.batches, self.lr, self.who = student, batches, lr, who
        self.order = torch.Generator().manual_seed(seed)

    def _loss(self, inputs, labels) -> torch.Tensor:
        return loss_fn(self.student.module(*inputs)[0], labels, self.who)

    def loss(self) -> float:
        with torch.no_grad():
            return float(sum(self._loss(x, y) for x, y in self.batches) / len(self.batches))

    def train(self, epochs: int) -> None:
        optimizer = torch.optim.Adam(self.student.params.values(), lr=self.lr)
        for _ in range(epochs):
            for k in torch.randperm(len(self.batches), generator=self.order).tolist():
                optimizer.zero_grad()
                self._loss(*self.batches[k]).backward()
                optimizer.step()
