"""`allocate-bits{budget.size=..., budget.bops=..., budget.latency=..., choices=[2,4,8], act_choices=None}`:
one weight width (and, with `act_choices`, one input-activation width) per layer, the
allocation of least summed sensitivity (`q.sens` from the sensitivity pass) within the
budgets, solved exactly as an ILP (ilp.py). Writes `q.bits` (read by calibrate-weights
and quantize) and, with activation choices, `q.act_bits` on each layer's node.

Costs come from the layer's types and the target's cost model (costs.py); choices the
target cannot run for a layer's op are left out, and layers that must agree are tied
(graph_ties.py), so whatever is chosen deploys. Without `act_choices` activations stay
at the target's preferred activation width. Budgets: see budgets.py. An infeasible
budget raises InfeasibleBudget stating the smallest feasible one.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar, Optional

from qcompiler.ir.types import STORAGE_BITS
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.targets import get_target

from ..quantize.choices import WEIGHT_STORAGE
from ..sensitivity.layers import quantizable_layers
from .budgets import parse_budget
from .costs import layer_costs
from .errors import AllocationError
from .graph_ties import layer_ties
from .ilp import solve
from .problem import AllocationProblem, Choice, LayerOptions


@register_pass
@dataclass(frozen=True)
class AllocateBits(Pass):
    name: ClassVar[str] = "allocate-bits"
    budget: dict = field(default_factory=dict)
    choices: tuple[int, ...] = (2, 4, 8)
    act_choices: Optional[tuple[int, ...]] = None

    def __post_init__(self):
        for resource, value in self.budget.items():
            parse_budget(resource, value)
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices or any(b not in WEIGHT_STORAGE for b in self.choices):
            raise ValueError(f"choices={list(self.choices)}: weight widths must be among {sorted(WEIGHT_STORAGE)}")
        if self.act_choices is not None:
            object.__setattr__(self, "act_choices", tuple(self.act_choices))  # a pipeline string gives a list
            if not self.act_choices:
                raise ValueError("act_choices is empty")

    def run(self, graph, ctx: PassContext) -> PassResult:
        layers = quantizable_layers(graph)
        if not layers:
            ctx.note("no layer with constant float weights: nothing to allocate")
            return PassResult(False, {"layers": 0})
        target = get_target(ctx.target or "generic")
        labels = [self._labels(layer, target) for layer in layers]
        ties = layer_ties(graph, layers, self.act_choices is not None, target.activation_symmetric)
        for tie in ties:
            common = [label for label in labels[tie[0]] if all(label in labels[i] for i in tie)]
            if not common:
                names = ", ".join(layers[i].node.label() for i in tie)
                raise AllocationError(f"tied layers {names} have no choice in common on target '{target.name}'")
            for i in tie:
                labels[i] = common
        options = [LayerOptions(layer.name, [self._choice(layer, label, target) for label in layer_labels])
                   for layer, layer_labels in zip(layers, labels)]
        budgets = {r: parse_budget(r, v) for r, v in self.budget.items()}
        if not budgets:
            ctx.note("no budget given: every layer takes its least sensitive choice")
        allocation = solve(AllocationProblem(options, budgets, ties))
        for layer, label in zip(layers, allocation.choices):
            if self.act_choices is None:
                layer.node.attrs["q.bits"] = label
            else:
                layer.node.attrs["q.bits"], layer.node.attrs["q.act_bits"] = label
        mix = Counter(map(str, allocation.choices))
        return PassResult(True, {"layers": len(layers), "ties": len(ties), "objective": allocation.objective,
                                 **allocation.costs, "mix": " ".join(f"{k}:{n}" for k, n in sorted(mix.items()))})

    def _labels(self, layer, target) -> list:
        """The layer's choices the target can run, cheapest first (preferred on ties)."""
        weights = [b for b in sorted(self.choices) if target.supports_weight(layer.node.op, WEIGHT_STORAGE[b])]
        if not weights:
            raise AllocationError(f"{layer.node.label()}: target '{target.name}' runs none of the weight widths "
                                  f"{list(self.choices)} for {layer.node.op} (it has {', '.join(target.weight_types_for(layer.node.op))})")
        if self.act_choices is None:
            return weights
        runnable = {STORAGE_BITS[s] for s in target.activation_storage}
        acts = [a for a in sorted(self.act_choices) if a in runnable]
        if not acts:
            raise AllocationError(f"act_choices={list(self.act_choices)}: target '{target.name}' has activations of "
                                  f"{sorted(runnable)} bits only")
        return [(w, a) for w in weights for a in acts]

    def _choice(self, layer, label, target) -> Choice:
        w, a = (label, _default_activation_bits(target)) if self.act_choices is None else label
        sensitivity = _sensitivity(layer, "q.sens", w)
        if self.act_choices is not None:
            sensitivity += _sensitivity(layer, "q.sens_act", a)
        return Choice(label, sensitivity, layer_costs(layer, w, a, target))


def _default_activation_bits(target) -> int:
    """The width the quantize pass gives activations when none is requested."""
    return STORAGE_BITS[target.activation_storage[0]]


def _sensitivity(layer, attr: str, bits: int) -> float:
    scores = layer.node.attrs.get(attr)
    if scores is None:
        producer = "sensitivity{metric=sqnr, acts=[...]}" if attr == "q.sens_act" else "sensitivity"
        raise AllocationError(f"{layer.node.label()} has no {attr}: run {producer} before allocate-bits")
    if str(bits) not in scores:
        raise AllocationError(f"{layer.node.label()}: {attr} has widths {sorted(scores, key=int)}, "
                              f"allocate-bits asks for {bits}; measure it with sensitivity{{bits=[...]}}")
    return float(scores[str(bits)])
