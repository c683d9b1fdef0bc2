"""The teacher of codebook-finetune: the graph with the float weights, kept by
codebook-quantize in each constant's meta cache, back in place; its outputs are the
distillation targets."""
from __future__ import annotations

import torch

from qcompiler.ir.clone import clone
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import CodebookType, tensor_type_of
from qcompiler.runtime.torch import to_torch

from .errors import CodebookError


def codebook_consts(graph: Graph) -> dict:
    """Value name -> const node, for every codebook weight of `graph`."""
    return {n.output.name: n for n in graph.nodes if n.op == "const" and isinstance(n.output.type, CodebookType)}


def teacher_graph(graph: Graph, consts: dict) -> Graph:
    """A copy of `graph` with every codebook weight replaced by its float weight."""
    teacher = clone(graph)
    for name, node in consts.items():
        weight = node.meta.get("float_value")
        if weight is None:
            raise CodebookError(f"codebook-finetune: the float values of weight %{name} are gone (codebook-quantize "
                                "keeps them in a cache that lives within one pipeline): run codebook-finetune in the "
                                "same pipeline as codebook-quantize")
        copy = teacher.find(name)
        copy.producer.attrs = {k: v for k, v in copy.producer.attrs.items() if not k.startswith("q.codebook")}
        copy.producer.attrs["value"] = Dense(weight)
        copy.type = tensor_type_of(weight)
    return teacher


def teacher_outputs(teacher: Graph, batches: list) -> list:
    """The teacher's outputs per batch."""
    module = to_torch(teacher)
    with torch.no_grad():
        return [[o.detach() for o in module(*inputs)] for inputs in batches]
