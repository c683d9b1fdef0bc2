"""Per-tensor activation quantization at the producers (docs/quantization.md, stage 2).

A node is quantized when the lowering can run it on integers (INTEGER_OPS), or when it
is a pass-through op whose data operand is quantized. Its float results get QuantTypes;
its float activation operands that are not quantized at their producer (graph inputs,
results of ops that stay float) get one explicit `quantize` node each, and float
constants among them are stored as integers. Tied values (ties.py) share parameters,
the ones of the union of their ranges, in the storage activation_widths.py gives the
group (the default, or what its readers' `q.act_bits` ask for). Everything else keeps
its float type, and so do layers marked `q.keep_float` (keep_float.py). A degenerate
range (every calibration sample gave the same value 0) gets the unit range instead
(degenerate.py), with a warning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.dense import Dense
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import params_from_range, quantize

from .activation_widths import ActivationWidths
from .degenerate import UNIT_RANGE, degenerate
from .keep_float import kept_float
from .op_classes import PASS_THROUGH_OPS, activation_operands, float_results, is_integer_capable
from .ranges import missing_range, union_range


@dataclass
class ActivationPlan:
    """Every mutation, decided before the first one (ranges of constants are read from
    their float values, which quantizing them would overwrite)."""

    results: list = field(default_factory=list)    # (value, QuantType)
    constants: dict = field(default_factory=dict)  # id -> (value, QuantType)
    converts: list = field(default_factory=list)   # (consumer node, operand index, value, QuantType)


class _Params:
    """Parameters per tie group, from the union of the group's ranges, in the group's storage."""

    def __init__(self, graph: Graph, widths: ActivationWidths, symmetric: bool, ctx):
        self.graph, self.widths, self.symmetric, self.ctx = graph, widths, symmetric, ctx
        self.sets = widths.sets
        self.groups = {self.sets.find(g[0]): g for g in self.sets.groups()}
        self.cache: dict = {}

    def type_of(self, v: Value, consumer: Node) -> QuantType:
        key = self.sets.find(v)
        if key not in self.cache:
            r = union_range(self.graph, self.groups.get(key, [v]))
            if r is None:
                raise missing_range(v, consumer.label())
            storage = self.widths.storage(v)
            params = params_from_range(r[0], r[1], storage, self.symmetric)
            if degenerate(params[0]):
                self.ctx.warn(f"%{v.name} (read by {consumer.label()}) has the degenerate calibrated range "
                              f"[{r[0]:.3g}, {r[1]:.3g}]; quantized for {list(UNIT_RANGE)} instead: "
                              f"calibrate on data that exercises it", node=v.name)
                params = params_from_range(*UNIT_RANGE, storage, self.symmetric)
            self.cache[key] = (storage, *params)
        storage, scale, zp = self.cache[key]
        return QuantType(storage, plain(v.type).dtype, v.type.shape, scale, zp)


def plan_activations(graph: Graph, weights: set, widths: ActivationWidths, symmetric: bool, ctx) -> ActivationPlan:
    params = _Params(graph, widths, symmetric, ctx)
    plan, quantized = ActivationPlan(), set()
    for node in graph.nodes:
        follows = node.op in PASS_THROUGH_OPS and node.inputs and id(node.inputs[0]) in quantized
        if kept_float(node) or not (follows or (node.op not in PASS_THROUGH_OPS and is_integer_capable(node))):
            continue
        for i, v in activation_operands(graph, node, weights):
            if id(v) in quantized:
                continue
            if graph.const_value(v) is not None:
                plan.constants.setdefault(id(v), (v, params.type_of(v, node)))
            else:
                plan.converts.append((node, i, v, params.type_of(v, node)))
        for r in float_results(node):
            plan.results.append((r, params.type_of(r, node)))
            quantized.add(id(r))
    return plan


def apply_activations(graph: Graph, plan: ActivationPlan) -> int:
    """Apply `plan`; returns the number of `quantize` nodes inserted."""
    for v, t in plan.constants.values():
        node = v.producer
        node.attrs["value"] = Dense(quantize(node.attrs["value"].array, t).astype(_container(t)))
        v.type = t
    for v, t in plan.results:
        v.type = t
    converted: dict = {}
    for consumer, i, v, t in plan.converts:
        if id(v) not in converted:
            q = graph.add("quantize", [v], name=f"{v.name}_q", before=consumer, output_types=[t])
            converted[id(v)] = q.output
        consumer.set_input(i, converted[id(v)])
    return len(converted)


def _container(t: QuantType):
    return np.uint8 if t.qmin >= 0 else np.int8
