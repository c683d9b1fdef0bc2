"""quantize: the calibrated float graph -> the fake-quant graph (docs/quantization.md,
stage 2): weight constants become QuantType constants storing integers, activations
get per-tensor QuantTypes at their producers, ops stay float ops.

Options: `weights` (i8 | i4 | i2 | b1; a node's `q.bits` overrides it), `acts` (u8 |
i8 | u4 | i4; default: the target's preferred activation storage; a node's `q.act_bits`
overrides it for the activation the node reads, activation_widths.py), `granularity`
(tensor | channel | group:N, N along the input-channel axis) and `symmetric` (of the
weights; default: the target's rule — activations always follow the target).
Whatever the target (ctx.target, default "generic") cannot run falls back to what it
can, with a warning. On targets whose u8 x s8 pair sums saturate int16 (x86 AVX2),
i8 weights read next to u8 activations are kept in [-64, 63] (`q.reduce_range`):
255 * 64 * 2 = 32640 < 32767, so no pair sum can saturate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from qcompiler.ir.dense import Dense
from qcompiler.ir.types import STORAGE_BITS, TensorType
from qcompiler.passmanager import Pass, PassResult, register_pass
from qcompiler.targets import get_target

from ..calibration.weight_operands import weight_uses
from . import choices
from .absorb_relu import absorb_relus
from .activation_widths import ActivationWidths
from .activations import apply_activations, plan_activations
from .errors import QuantizeError
from .op_classes import reduction_axis
from .ties import tie_sets
from .weights import WeightPlan, quantize_weight

REDUCED_I8 = (-64, 63)


@register_pass
@dataclass(frozen=True)
class Quantize(Pass):
    name: ClassVar[str] = "quantize"
    weights: str = "i8"
    acts: Optional[str] = None
    granularity: str = "channel"
    symmetric: Optional[bool] = None

    def __post_init__(self):
        choices.check_weight_option(self.weights)
        choices.check_activation_option(self.acts)
        choices.check_symmetric_option(self.symmetric)
        choices.parse_granularity(self.granularity)

    def run(self, graph, ctx) -> PassResult:
        _check_codebook_choices_applied(graph)
        target = get_target(ctx.target or "generic")
        acts = choices.activation_storage(self.acts, target, ctx)
        granularity = choices.granularity(choices.parse_granularity(self.granularity), target, ctx)
        symmetric = target.weight_symmetric if self.symmetric is None else self.symmetric
        absorbed = absorb_relus(graph, target.activation_symmetric)  # first: it moves ranges the ties read
        widths = ActivationWidths(graph, tie_sets(graph, activation_symmetric=target.activation_symmetric),
                                  acts, target, ctx)
        reduce = {id(use.weight) for use in weight_uses(graph)
                  if target.saturating_pair_sums and widths.storage(use.consumer.inputs[0]) == "u8"}
        weights = self._quantize_weights(graph, ctx, target, granularity, symmetric, reduce)
        plan = plan_activations(graph, weights, widths, target.activation_symmetric)
        inserted = apply_activations(graph, plan)
        stats = {"weights": len(weights), "activations": len(plan.results) + len(plan.constants),
                 "quantize_nodes": inserted, "relus_absorbed": absorbed}
        return PassResult(bool(weights or plan.results or inserted), stats)

    def _quantize_weights(self, graph, ctx, target, granularity, symmetric, reduce: set) -> set:
        """Quantizes every float weight constant in place (in 7 bits when its id is in
        `reduce`: a reader's u8 x s8 pair sums would saturate); returns their value ids."""
        done: dict = {}
        for use in list(weight_uses(graph)):
            node, w = use.consumer, use.weight
            if id(w) not in done:
                storage = choices.weight_storage(node, choices.weight_bits(node, self.weights), target, ctx)
                operand = next(i for i, v in enumerate(node.inputs) if v is w)
                in_axis = reduction_axis(node, operand, w.type.rank)
                plan = WeightPlan(storage, _granularity(node, w, granularity, use.axis, in_axis, ctx), symmetric,
                                  REDUCED_I8 if id(w) in reduce and storage == "i8" else None)
                const = w.producer
                array = const.attrs["value"].array
                q, t = quantize_weight(array, const, w.name, plan, use.axis, in_axis,
                                       const.attrs.get("q.method", "minmax"))
                const.meta["float_value"] = array  # for bias-correct; a cache, like all meta
                const.attrs["value"] = Dense(q)
                w.type = t
                done[id(w)] = plan
            plan = done[id(w)]
            node.attrs["q.bits"] = STORAGE_BITS[plan.storage]
            node.attrs["q.granularity"] = plan.granularity
            if plan.qrange is not None:
                node.attrs["q.reduce_range"] = True
        return set(done)


def _check_codebook_choices_applied(graph) -> None:
    """allocate-bits may choose a kernel codebook for a layer (`q.index_bits`); quantizing
    that layer's float weight to integers instead would silently break the budget."""
    for node in graph.nodes:
        if "q.index_bits" not in node.attrs or len(node.inputs) < 2:
            continue
        if isinstance(node.inputs[1].type, TensorType):
            raise QuantizeError(f"{node.label()} was allocated a kernel codebook (q.index_bits="
                                f"{node.attrs['q.index_bits']}) but its weight is still float: run "
                                f"codebook-quantize after allocate-bits and before quantize")


def _granularity(node, w, granularity: str, out_axis, in_axis, ctx) -> str:
    """The pass granularity where this weight's layout allows it."""
    if out_axis is None:
        return "tensor"
    if not granularity.startswith("group:"):
        return granularity
    size = int(granularity.split(":")[1])
    if in_axis is not None and w.type.shape[in_axis] % size == 0:
        return granularity
    ctx.warn(f"{node.label()}: weight %{w.name} {list(w.type.shape)} has no input-channel axis divisible by "
             f"{size}; using channel granularity", node=node.outputs[0].name)
    return "channel"
