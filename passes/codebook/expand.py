"""codebook-expand: codebook weights as standard IR, for targets and exporters that have
no codebook type.

- `weights=gather`: the codebook becomes an i8 constant with the codebook's scale, the
  indices a u8 (or i32) constant cast to i32, and the weight `gather(codebook, indices)`
  along axis 0, which already has the weight's shape [Cout, Cin/g, kh, kw]. Exported as
  ONNX this is DequantizeLinear + Cast + Gather feeding a standard Conv: the file stores
  the small codebook and one byte per kernel.
- `weights=int8`: the weight becomes the i8 constant codebook[indices] with the
  codebook's scale (per tensor): an ordinary quantized weight every backend runs.

Both compute exactly scale · codebook[indices], the weight the reference runs; the
gather form also rounds a reader's float bias to s_x·s_codebook, as the simulation of
the codebook weight and the integer accumulator add it (runtime/product_rounding.py).

A lowered graph has no codebook types left: its `qcodebook_conv2d` nodes already take
the codewords and indices as standard integer operands (the gather form). With
`weights=int8` they become `qconv2d` on the i8 weight codebook[indices], same attributes:
the same integers, for targets without gather-based kernels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qcompiler.ir.codebook import codebook_of
from qcompiler.ir.core import Graph, Node
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import fake_quantize
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.runtime.product_rounding import product_rounding

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
        convs = [n for n in graph.nodes if n.op == "qcodebook_conv2d"] if self.weights == "int8" else []
        for node in convs:
            _as_dense_qconv(graph, node)
        return PassResult(bool(consts or convs), {"expanded": len(consts) + len(convs)})


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
    for reader in w.users:
        _round_bias(graph, reader)
    w.replace_all_uses_with(gathered)
    graph.erase(node)
    graph.rename(gathered, w.name)


def _round_bias(graph: Graph, reader: Node) -> None:
    """Give `reader` its bias as the integer accumulator adds it (rounded to s_x·s_codebook),
    which the gathered float weight no longer tells the simulation or the exporter."""
    rounding = product_rounding(reader)
    bias = reader.inputs[2] if rounding is not None and rounding.bias is not None else None
    values = graph.const_value(bias)
    if values is None:
        return
    rounded = fake_quantize(values, rounding.bias).astype(values.dtype)
    reader.set_input(2, graph.constant(rounded, name=f"{bias.name}_rounded", before=reader, type=bias.type,
                                       origin=bias.producer.attrs.get("origin")))


def _as_dense_qconv(graph: Graph, node: Node) -> None:
    x, codebook, indices = node.inputs[:3]
    words, index = graph.const_value(codebook), graph.const_value(indices)
    if words is None or index is None:
        raise CodebookError(f"codebook-expand: {node.label()} reads computed codewords or indices; only "
                            "constants can be expanded into an int8 weight")
    weight = words.astype(np.int8)[index.astype(np.int64)]
    w = graph.constant(weight, name=f"{node.output.name}_weight", before=node,
                       origin=(codebook.producer.attrs.get("origin") or "").removesuffix(".codebook") or None,
                       type=_i8_type(weight.shape, codebook.type.scale.array.reshape(()), codebook.type.expressed))
    dense = graph.add("qconv2d", [x, w, *node.inputs[3:]], dict(node.attrs), before=node,
                      output_types=[node.output.type])
    name = node.output.name
    node.output.replace_all_uses_with(dense.output)
    graph.erase(node)
    for const in (codebook, indices):
        if not const.uses:
            graph.erase(const.producer)
    graph.rename(dense.output, name)
