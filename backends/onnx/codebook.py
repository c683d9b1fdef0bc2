"""Codebook weights in ONNX (`export(..., codebook="gather"|"int8")`): before export, the
graph's codebooks are expanded into standard IR by `codebook-expand`
(passes/codebook/expand.py) on a copy; the graph itself is left alone.

- `gather` (the default): a float or fake-quant graph's codebook weights become
  DequantizeLinear(int8 codebook) → Gather(·, Cast(uint8 indices)) → Conv; a lowered
  graph's qcodebook_conv2d becomes Gather(int8 codebook, indices) → ConvInteger with our
  requantization (integer_codebook.py). The file holds the codebook and one byte per kernel.
- `int8`: the weight codebook[indices] as int8 — DequantizeLinear → Conv before lowering,
  qconv2d (ConvInteger, or QLinearConv in the qoperator form) after it — for targets
  without gather-based kernels.

Both compute exactly the reference's weights, so the integer form equals the reference
integer for integer either way.
"""
from __future__ import annotations

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.ir.types import CodebookType
from qcompiler.passmanager import PassManager

from .errors import OnnxExportError

FORMS = ("gather", "int8")  # the `weights` options of codebook-expand


def expand_codebooks(graph: Graph, codebook: str) -> Graph:
    """`graph`, or an expanded copy when it holds something `codebook` spells differently."""
    if codebook not in FORMS:
        raise OnnxExportError(f"graph @{graph.name}: codebook={codebook!r}; expected one of {', '.join(FORMS)}")
    typed = any(isinstance(v.type, CodebookType) for v in graph.values())
    dense = codebook == "int8" and any(n.op == "qcodebook_conv2d" for n in graph.nodes)
    if not (typed or dense):
        return graph
    # imported here: the pass library (and torch with it) loads only for graphs that need it
    from qcompiler.passes.codebook.expand import CodebookExpand

    expanded = clone(graph)
    PassManager([CodebookExpand(codebook)]).run(expanded)
    return expanded
