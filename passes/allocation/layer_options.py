"""The graph's layers as an AllocationProblem: per layer, the choices the target can run
(cheapest first, preferred on ties), each with its sensitivity (`q.sens`, plus
`q.sens_act` with activation choices) and its costs (costs.py); layers that must agree
are tied (graph_ties.py), so whatever is chosen deploys. `allocate-bits` solves it
exactly; `search` explores it with measured losses. Choices are weight widths (ints),
given `codebook` kernel codebooks "cbI" (codebook_choice.py), or minifloat formats
("e4m3", "e2m3", ...: docs/minifloat.md), costed at their storage bits."""
from __future__ import annotations

from typing import Optional

from qcompiler.ir.types import STORAGE_BITS
from qcompiler.targets import Target

from ..quantize.choices import WEIGHT_STORAGE
from ..quantize.minifloat import format_bits, is_minifloat
from ..quantize.residual import ALLOCATED_ATTR as RESIDUAL_ATTR
from .codebook_choice import CodebookChoices, codebook_index_bits
from .costs import layer_costs
from .errors import AllocationError
from .graph_ties import layer_ties
from .residual_choice import offered, residual_costs, residual_sensitivity_width, residual_terms_bits
from .problem import AllocationProblem, Choice, LayerOptions


def allocation_problem(graph, layers: list, target: Target, choices: tuple, act_choices: Optional[tuple],
                       budgets: dict, reader: str = "allocate-bits",
                       codebook: Optional[CodebookChoices] = None) -> AllocationProblem:
    """`budgets` as parse_budget returns them (floats in base units or "N%" strings);
    `reader` names the pass in errors about missing sensitivities; `codebook` says what
    "cbI" choices mean (needed when `choices` has any)."""
    labels = [_labels(layer, target, choices, act_choices, codebook) for layer in layers]
    ties = layer_ties(graph, layers, act_choices is not None, target.activation_symmetric, target.fusion_pairs)
    for tie in ties:
        common = [label for label in labels[tie[0]] if all(label in labels[i] for i in tie)]
        if not common:
            names = ", ".join(layers[i].node.label() for i in tie)
            raise AllocationError(f"tied layers {names} have no choice in common on target '{target.name}'")
        for i in tie:
            labels[i] = common
    options = [LayerOptions(layer.name, [_choice(layer, label, target, act_choices, reader, codebook)
                                         for label in layer_labels])
               for layer, layer_labels in zip(layers, labels)]
    return AllocationProblem(options, budgets, ties)


def write_choices(layers: list, labels, with_activations: bool, codebook: Optional[CodebookChoices] = None) -> None:
    """`q.bits` (and `q.act_bits` when labels are (w, a) pairs) on each layer's node;
    for a codebook choice `q.index_bits` and `q.codebook_bits` instead of `q.bits`."""
    for layer, label in zip(layers, labels):
        w, a = label if with_activations else (label, None)
        if with_activations:
            layer.node.attrs["q.act_bits"] = a
        layer.node.attrs.pop(RESIDUAL_ATTR, None)
        if residual_terms_bits(w) is not None:
            layer.node.attrs[RESIDUAL_ATTR], layer.node.attrs["q.bits"] = residual_terms_bits(w)
            for stale in ("q.index_bits", "q.codebook_bits", "q.format"):
                layer.node.attrs.pop(stale, None)
            continue
        index_bits = None if is_minifloat(w) else codebook_index_bits(w)
        if is_minifloat(w):
            layer.node.attrs["q.format"] = w
            for stale in ("q.bits", "q.index_bits", "q.codebook_bits"):
                layer.node.attrs.pop(stale, None)
        elif index_bits is None:
            layer.node.attrs["q.bits"] = w
            for stale in ("q.index_bits", "q.codebook_bits", "q.format"):
                layer.node.attrs.pop(stale, None)
        else:
            codebook.write(layer.node, index_bits)


def _labels(layer, target: Target, choices: tuple, act_choices: Optional[tuple],
            codebook: Optional[CodebookChoices]) -> list:
    """The layer's choices the target can run, cheapest first (preferred on ties); the
    integer widths before the codebooks."""
    formats = sorted((c for c in choices if is_minifloat(c)), key=format_bits)  # float ops on every target
    residuals = [c for c in choices if residual_terms_bits(c) is not None]
    choices = [c for c in choices if c not in residuals]
    widths = sorted(c for c in choices if not is_minifloat(c) and codebook_index_bits(c) is None)
    books = [c for c in choices if not is_minifloat(c) and codebook_index_bits(c) is not None]
    if books and codebook is None:
        raise AllocationError(f"choices {books}: kernel codebooks are an allocate-bits choice only")
    weights = [b for b in widths if target.supports_weight(layer.node.op, WEIGHT_STORAGE[b])]
    weights += [c for c in books if codebook.offered(layer, target)] + formats
    weights += [c for c in residuals if offered(layer, c, target)]
    if not weights:
        raise AllocationError(f"{layer.node.label()}: target '{target.name}' runs none of the weight widths "
                              f"{list(choices)} for {layer.node.op} (it has {', '.join(target.weight_types_for(layer.node.op))})")
    if act_choices is None:
        return weights
    runnable = {STORAGE_BITS[s] for s in target.activation_storage}
    acts = [a for a in sorted(act_choices) if a in runnable]
    if not acts:
        raise AllocationError(f"act_choices={list(act_choices)}: target '{target.name}' has activations of "
                              f"{sorted(runnable)} bits only")
    return [(w, a) for w in weights for a in acts]


def _choice(layer, label, target: Target, act_choices: Optional[tuple], reader: str,
            codebook: Optional[CodebookChoices]) -> Choice:
    w, a = (label, default_activation_bits(target)) if act_choices is None else label
    index_bits = None if is_minifloat(w) or residual_terms_bits(w) else codebook_index_bits(w)
    if residual_terms_bits(w) is not None:
        sensitivity = _sensitivity(layer, "q.sens", residual_sensitivity_width(w), reader)
        costs = residual_costs(layer, w, a, target)
    elif index_bits is None:
        bits = format_bits(w) if is_minifloat(w) else w
        sensitivity, costs = _sensitivity(layer, "q.sens", w, reader), layer_costs(layer, bits, a, target)
    else:
        sensitivity = codebook.sensitivity(layer, index_bits, reader)
        costs = codebook.costs(layer, index_bits, a, target)
    if act_choices is not None:
        sensitivity += _sensitivity(layer, "q.sens_act", a, reader)
    return Choice(label, sensitivity, costs)


def default_activation_bits(target: Target) -> int:
    """The width the quantize pass gives activations when none is requested."""
    return STORAGE_BITS[target.activation_storage[0]]


def _sensitivity(layer, attr: str, bits: int, reader: str) -> float:
    scores = layer.node.attrs.get(attr)
    if scores is None:
        producer = "sensitivity{metric=sqnr, acts=[...]}" if attr == "q.sens_act" else "sensitivity"
        raise AllocationError(f"{layer.node.label()} has no {attr}: run {producer} before {reader}")
    if str(bits) not in scores:
        measure = "minifloat-sensitivity{formats=[...]}" if is_minifloat(bits) else "sensitivity{bits=[...]}"
        widths = sorted(scores, key=lambda k: k.zfill(4))  # numbers in order, formats after them
        raise AllocationError(f"{layer.node.label()}: {attr} has widths {widths}, {reader} asks for {bits}; "
                              f"measure it with {measure}")
    return float(scores[str(bits)])
