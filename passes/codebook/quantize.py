"""codebook-quantize: every k×k kernel of a convolution weight becomes an index into a
codebook of k×k kernels learned by k-means, whose codewords are `codebook_bits`
integers with one scale (Kernel Quantization, Yu et al. 2020; docs/codebook.md).

Options: `codebook_bits` (2..8, the KQ paper uses 6), `index_bits` (2..8: 2^index_bits
codewords), `kernel` ("3x3"; weights with other kernel shapes are left alone) and
`share` ("layer": one codebook per weight; "model": one for all of them). A layer with
fewer kernels than codewords gets the index width its kernels need (share=layer).
The float weights stay in the constant's meta cache for `codebook-finetune`.

When any conv1d / conv2d carries `q.index_bits` (written by `allocate-bits` for a layer it
gave a codebook, choice "cbI"), only those layers are taken, each at its own
`q.index_bits` and `q.codebook_bits` (default: the option) with its own kernel shape;
`share=model` then shares one codebook among layers of equal kernel shape and widths.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler.ir.codebook import codebook_attrs, codeword_dtype, index_dtype
from qcompiler.ir.core import Graph, Value
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import CodebookType, is_float
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass

from .errors import CodebookError
from .kmeans import learn_codebook
from .size import codebook_size

LAYER_OPS = ("conv1d", "conv2d")
SHARES = ("layer", "model")


def parse_kernel(text) -> tuple:
    """"3x3" -> (3, 3); "3" -> (3,)."""
    try:
        shape = tuple(int(k) for k in str(text).lower().split("x"))
    except ValueError:
        shape = ()
    if not shape or any(k < 1 for k in shape):
        raise CodebookError(f"codebook-quantize: kernel={text!r} is not a kernel shape like 3x3")
    return shape


@register_pass
@dataclass(frozen=True)
class CodebookQuantize(Pass):
    name: ClassVar[str] = "codebook-quantize"
    codebook_bits: int = 6
    index_bits: int = 4
    kernel: str = "3x3"
    share: str = "layer"

    def __post_init__(self):
        for option, value in (("codebook_bits", self.codebook_bits), ("index_bits", self.index_bits)):
            if not 2 <= value <= 8:
                raise CodebookError(f"codebook-quantize: {option}={value} is outside 2..8")
        if self.share not in SHARES:
            raise CodebookError(f"codebook-quantize: share={self.share!r}; expected one of {', '.join(SHARES)}")
        parse_kernel(self.kernel)

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        plans = allocated_plans(graph, self.codebook_bits)
        if plans is None:
            plans = [Plan(w, parse_kernel(self.kernel), self.codebook_bits, self.index_bits)
                     for w in conv_weights(graph, parse_kernel(self.kernel))]
        if not plans:
            ctx.note(f"no {self.kernel} convolution weights to codebook-quantize")
            return PassResult(False, {"layers": 0})
        groups: dict = {}
        for plan in plans:  # one codebook per group: per weight, or per setting with share=model
            key = (plan.kernel, plan.codebook_bits, plan.index_bits) if self.share == "model" else id(plan.weight)
            groups.setdefault(key, []).append(plan)
        for group in groups.values():
            first = group[0]
            size = math.prod(first.kernel)
            kernels = [graph.const_value(p.weight).reshape(-1, size) for p in group]
            book = learn_codebook(np.concatenate(kernels), index_bits_for(first.index_bits, sum(map(len, kernels))),
                                  first.codebook_bits, ctx.seed)
            starts = np.cumsum([0] + [len(k) for k in kernels])
            for plan, start, stop in zip(group, starts[:-1], starts[1:]):
                _replace(plan, book.codewords, book.scale, book.indices[start:stop], book_bits(book))
        size = codebook_size(graph)
        ctx.note(f"codebook weights: {len(plans)}, {size.bits_per_weight():.3f} bits/weight "
                 f"({size.bits_per_weight('huffman'):.3f} with Huffman-coded indices)")
        return PassResult(True, {"layers": len(plans), "bits_per_weight": round(size.bits_per_weight(), 4),
                                 "huffman_bits_per_weight": round(size.bits_per_weight("huffman"), 4)})


@dataclass(frozen=True)
class Plan:
    """One weight to codebook-quantize, and how."""

    weight: Value
    kernel: tuple
    codebook_bits: int
    index_bits: int


def _replace(plan: Plan, codewords: np.ndarray, scale: float, indices: np.ndarray, index_bits: int) -> None:
    w, kernel = plan.weight, plan.kernel
    const = w.producer
    const.meta["float_value"] = const.attrs["value"].array  # for codebook-finetune; a cache
    const.attrs["value"] = Dense(indices.reshape(w.type.shape[:-len(kernel)]).astype(index_dtype(index_bits)))
    const.attrs.update(codebook_attrs(codewords.reshape((-1,) + kernel).astype(codeword_dtype(plan.codebook_bits)),
                                      scale))
    w.type = CodebookType(plan.codebook_bits, index_bits, kernel, w.type.dtype, w.type.shape)


def allocated_plans(graph: Graph, default_codebook_bits: int) -> Optional[list]:
    """The float weights of the convolutions carrying `q.index_bits`, once each; None
    when no convolution carries it."""
    found: dict = {}
    marked = [n for n in graph.nodes if n.op in LAYER_OPS and "q.index_bits" in n.attrs and len(n.inputs) > 1]
    if not marked:
        return None
    for node in marked:
        w = node.inputs[1]
        if graph.const_value(w) is None or not is_float(w.type):
            continue  # already a codebook (the pass ran before) or not a constant
        bits = (int(node.attrs.get("q.codebook_bits", default_codebook_bits)), int(node.attrs["q.index_bits"]))
        for option, value in zip(("q.codebook_bits", "q.index_bits"), bits):
            if not 2 <= value <= 8:
                raise CodebookError(f"codebook-quantize: {node.label()} has {option}={value}, outside 2..8")
        found.setdefault(id(w), Plan(w, tuple(w.type.shape[2:]), *bits))
    return list(found.values())


def book_bits(book) -> int:
    return int(math.log2(len(book.codewords)))


def index_bits_for(requested: int, kernels: int) -> int:
    """No wider than the kernels need: 2^bits codewords for `kernels` kernels."""
    return max(1, min(requested, math.ceil(math.log2(max(kernels, 2)))))


def conv_weights(graph: Graph, kernel: tuple) -> list:
    """The float constant weights of convolutions whose kernel shape is `kernel`, once each."""
    found: dict = {}
    for node in graph.nodes:
        if node.op not in LAYER_OPS or len(node.inputs) < 2:
            continue
        w = node.inputs[1]
        if w is None or graph.const_value(w) is None or not is_float(w.type):
            continue
        if tuple(w.type.shape[2:]) == kernel:
            found.setdefault(id(w), w)
    return list(found.values())
