"""codebook-expand: codebook weights as standard IR, for targets and exporters that have
no codebook type.

- `weights=gather`: the codebook becomes an i8 constant with the codebook's scale, the
  indices a u8 (or i32) constant cast to i32, and the weight `gather(codebook, indices)`
  along axis 0, which already has the weight's shape [Cout, Cin/g, kh, kw]. Exported as
  ONNX this is DequantizeLinear + Cast + Gather feeding a standard Conv: the file stores
  the small codebook and one byte per kernel.
- `weights=int8`: the weight becomes the i8 constant codebook[indices] with the
  codebook's scale (per tensor): an ordinary quantized weight every backend runs.

Both compute exactly scale · codebook[indices], the weight the reference runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qcompiler.ir.codebook import codebook_of
from qcompiler.ir.core import Graph, Node
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass

from .errors import CodebookError
from .teacher import codebook_consts

FORMS = ("gather", "int8")


@register_pass
@dataclass(frozen=True)
class CodebookExpand(Pass):
    name: ClassVar[str] = "codebook-expand"
    weights: str = "gather"

    def __post_init__(self):
        if self.weights not in FORMS:
            raise CodebookError(f"codebook-expand: weights={self.weights!r}; expected one of {', '.join(FORMS)}")

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        consts = list(codebook_consts(graph).values())
        for node in consts:
            if node.output.type.codebook_bits > 8:
                raise CodebookError(f"codebook-expand: weight %{node.output.name} has {node.output.type.codebook_bits}"
                                    "-bit codewords; i8 storage holds at most 8")
            (_as_gather if self.weights == "gather" else _as_int8)(graph, node)
        return PassResult(bool(consts), {"expanded": len(consts)})


def _i8_type(shape, scale, expressed) -> QuantType:
    return QuantType("i8", expressed, shape, np.float32(scale), np.int32(0))


def _as_int8(graph: Graph, node: Node) -> None:
    codebook, scale = codebook_of(node)
    w = node.output
    weight = codebook.astype(np.int8)[node.attrs["value"].array.astype(np.int64)]
    node.attrs = {k: v for k, v in node.attrs.items() if not k.startswith("q.codebook")}
    node.attrs["value"] = Dense(weight)
    w.type = _i8_type(w.type.shape, scale, w.type.expressed)


def _as_gather(graph: Graph, node: Node) -> None:
    codebook, scale = codebook_of(node)
    w, t = node.output, node.output.type
    indices = node.attrs["value"].array
    words = graph.constant(codebook.astype(np.int8), name=f"{w.name}_codebook", before=node,
                           type=_i8_type(codebook.shape, scale, t.expressed))
    index = graph.constant(indices, name=f"{w.name}_indices", before=node)
    if indices.dtype != np.int32:  # ONNX Gather takes int32 / int64 indices; the constant stays 1 byte each
        index = graph.add("cast", [index], {"to": "i32"}, name=f"{w.name}_indices_i32", before=node).output
    gathered = graph.add("gather", [words, index], {"axis": 0}, before=node).output
    w.replace_all_uses_with(gathered)
    graph.erase(node)
    graph.rename(gathered, w.name)
