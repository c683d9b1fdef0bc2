"""Codebook weights in ONNX: the graph's codebook weights are expanded into standard IR
(`codebook-expand`, passes/codebook/expand.py) on a copy, which the QDQ exporter writes.

- `weights="gather"`: DequantizeLinear(int8 codebook) → Gather(·, Cast(uint8 indices))
  → Conv. Standard ONNX that ONNX Runtime runs; the file holds the codebook and one byte
  per kernel.
- `weights="int8"`: int8 weights codebook[indices] → DequantizeLinear → Conv, for
  targets without gather-based kernels (ONNX Runtime fuses it like any QDQ weight).
"""
from __future__ import annotations

import os
from typing import Optional, Union

import onnx

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.passes.codebook.expand import CodebookExpand
from qcompiler.passmanager import PassManager

from .export import to_onnx


def to_onnx_codebook(graph: Graph, weights: str = "gather", opset: Optional[int] = None, *,
                     check: bool = True) -> onnx.ModelProto:
    """The ONNX model of `graph`, whose codebook weights are written as `weights`."""
    expand = CodebookExpand(weights)  # checks the option before any work
    expanded = clone(graph)
    PassManager([expand]).run(expanded)
    return to_onnx(expanded, opset=opset, check=check)


def export_codebook(graph: Graph, path: Union[str, os.PathLike], weights: str = "gather",
                    opset: Optional[int] = None) -> onnx.ModelProto:
    proto = to_onnx_codebook(graph, weights, opset)
    onnx.save(proto, os.fspath(path))
    return proto
