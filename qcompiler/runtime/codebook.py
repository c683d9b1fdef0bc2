"""Codebook weights in the torch executor: a module holding the codebook as a trainable
float parameter and the kernel indices as a buffer.

The forward pass snaps the codebook to its integer grid (fake quantization with the
constant's scale, straight-through gradients) and gathers one codeword per kernel, so
it equals the reference interpreter's `scale · codebook[indices]` bit for bit while
gradients reach the codewords. Fine-tuning trains `codebook` with the indices fixed.
"""
from __future__ import annotations

import numpy as np
import torch

from ..ir.codebook import codebook_of, codeword_range
from ..ir.core import Node
from .fake_quant import fake_quantize


class CodebookWeight(torch.nn.Module):
    def __init__(self, node: Node):
        super().__init__()
        codebook, scale = codebook_of(node)
        self.value_name = node.output.name
        self.qmin, self.qmax = codeword_range(node.output.type.codebook_bits)
        self.codebook = torch.nn.Parameter(torch.from_numpy(codebook.astype(np.float32) * scale))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.register_buffer("indices", torch.from_numpy(node.attrs["value"].array.astype(np.int64)))

    def codewords(self) -> torch.Tensor:
        """The codebook on its grid: integers × scale."""
        return fake_quantize(self.codebook, self.scale, torch.zeros(()), self.qmin, self.qmax)

    def integer_codebook(self) -> np.ndarray:
        """The trained codebook as the integers a codebook constant stores."""
        with torch.no_grad():
            q = torch.clamp(torch.round(self.codebook / self.scale), self.qmin, self.qmax)
        return q.numpy().astype(np.int64)

    def forward(self) -> torch.Tensor:
        return self.codewords()[self.indices]
