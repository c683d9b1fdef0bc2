"""quantize: the calibrated float graph -> the fake-quant graph (docs/quantization.md,
stage 2): weight constants become QuantType constants storing integers, activations
get per-tensor QuantTypes at their producers, ops stay float ops.

Options: `weights` (i8 | i7 | i6 | i5 | i4 | i3 | i2 | b1; a node's `q.bits` overrides it; a
width without a storage type of its own keeps its grid inside the next container: i3 in i4,
i5 to i7 in i8, choices.weight_levels), `acts` (u8 |
i8 | u4 | i4, or dynamic: dynamic_acts.py; default: the target's preferred activation storage; a node's `q.act_bits`
overrides it for the activation the node reads, activation_widths.py), `embedding_sqnr`
(embedding tables at the fewest bits per value keeping this SQNR in dB, embedding.py), `granularity`
(tensor | channel | group:N, N along the input-channel axis) and `symmetric` (of the
weights; default: the target's rule — activations always follow the target). A layer
with `q.keep_float = true` stays float (keep_float.py). A minifloat format
(`weights=e4m3, acts=e4m3`, e5m2, e3m2, e2m3, e2m1; `minifloat_scale` max | mse) goes to
minifloat.py instead; layers the allocator gave a minifloat `q.format` are quantized
by it after the integer ones (minifloat_layers.py).
Whatever the target (ctx.target, default "generic") cannot run falls back to what it
can, with a warning. On targets whose u8 x s8 pair sums saturate int16 (x86 AVX2),
i8 weights read next to u8 activations are kept in [-64, 63] (`q.reduce_range`):
255 * 64 * 2 = 32640 < 32767, so no pair sum can saturate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import STORAGE_BITS, TensorType
from qcompiler.passmanager import Pass, PassResult, register_pass
from qcompiler.targets import get_target

from ..calibration.calibrate import CALIBRATED_ACT_BITS
from ..calibration.weight_operands import weight_uses
from . import choices
from .absorb_relu import absorb_relus
from .bias_fit import min_weight_scale
from .degenerate import describe_channels
from .dynamic_acts import ACT_GRANULARITIES, DYNAMIC, quantize_dynamic
from .embedding import quantize_embedding_tables
from .activation_widths import ActivationWidths
from .activations import apply_activations, plan_activations
from .errors import QuantizeError
from .keep_float import kept_float, mark_kept_float
from .minifloat import check_options as check_minifloat_options, is_minifloat, quantize_minifloat
from .minifloat_layers import with_minifloat_layers
from .op_classes import reduction_axis
from .ties import tie_sets
from .weights import WeightPlan, quantize_weight, recorded_range


@register_pass
@dataclass(frozen=True)
class Quantize(Pass):
    name: ClassVar[str] = "quantize"
    weights: str = "i8"
    acts: Optional[str] = None
    granularity: str = "channel"
    symmetric: Optional[bool] = None
    minifloat_scale: str = "max"
    act_granularity: str = "tensor"  # with acts=dynamic: one run-time scale per call, or per token (row)
    embedding_sqnr: Optional[float] = None  # embedding tables: fewest bits keeping this SQNR (dB); None: 8 (embedding.py)

    def __post_init__(self):
        if self.act_granularity not in ACT_GRANULARITIES or (self.act_granularity != "tensor" and self.acts != DYNAMIC):
            raise QuantizeError(f"quantize{{act_granularity={self.act_granularity}}}: takes tensor, or token with "
                                f"acts=dynamic (static activations have one calibrated scale per tensor)")
        if self.acts == DYNAMIC:  # dynamic_acts.py: onnxruntime's quantize_dynamic, i8 per-channel weights
            if (self.weights, self.granularity) != ("i8", "channel"):
                raise QuantizeError(f"quantize{{acts=dynamic}} takes weights=i8 and granularity=channel, got "
                                    f"weights={self.weights}, granularity={self.granularity}")
            return
        if is_minifloat(self.weights) or is_minifloat(self.acts):
            check_minifloat_options(self.weights, self.acts, self.granularity, self.minifloat_scale)
            return
        choices.check_weight_option(self.weights)
        choices.check_activation_option(self.acts)
        choices.check_symmetric_option(self.symmetric)
        choices.parse_granularity(self.granularity)

    def run(self, graph, ctx) -> PassResult:
        _check_codebook_choices_applied(graph)
        if self.acts == DYNAMIC:
            return quantize_dynamic(graph, ctx, self.act_granularity)
        if is_minifloat(self.weights):
            return quantize_minifloat(graph, ctx, self.weights, self.acts, self.granularity, self.minifloat_scale)
        return with_minifloat_layers(graph, ctx, lambda: self._run_integer(graph, ctx), self.minifloat_scale)

    def _run_integer(self, graph, ctx) -> PassResult:
        target = get_target(ctx.target or "generic")
        acts = choices.activation_storage(self.acts, target, ctx)
        _check_calibrated_width(acts, ctx)
        granularity = choices.granularity(choices.parse_granularity(self.granularity), target, ctx)
        symmetric = target.weight_symmetric if self.symmetric is None else self.symmetric
        if symmetric != target.weight_symmetric:  # done as asked, but not silently
            ctx.warn(f"quantize{{symmetric={str(symmetric).lower()}}}: target '{target.name}' runs "
                     f"{'symmetric' if target.weight_symmetric else 'asymmetric'} weights; these are quantized "
                     f"{'symmetric' if symmetric else 'asymmetric'} as asked, which its own kernels may not run")
        kept = mark_kept_float(graph)
        absorbed = absorb_relus(graph, target.activation_symmetric)  # first: it moves ranges the ties read
        widths = ActivationWidths(graph, tie_sets(graph, activation_symmetric=target.activation_symmetric),
                                  acts, target, ctx)
        uses = [use for use in weight_uses(graph) if not kept_float(use.consumer)]
        reduce = {id(use.weight) for use in uses
                  if target.saturating_pair_sums and widths.storage(use.consumer.inputs[0]) == "u8"}
        plans = self._plans(uses, ctx, target, granularity, symmetric, reduce)
        # activations before weights: a bias must fit at s_x · s_w, so weight scales depend on s_x
        plan = plan_activations(graph, set(plans), widths, target.activation_symmetric, ctx)
        inserted = apply_activations(graph, plan)
        _quantize_weights(graph, uses, plans, target, ctx)
        tables = quantize_embedding_tables(graph, self.embedding_sqnr)
        stats = {"weights": len(plans), "embedding_tables": tables,
                 "activations": len(plan.results) + len(plan.constants),
                 "quantize_nodes": inserted, "relus_absorbed": absorbed, "kept_float": kept}
        return PassResult(bool(plans or tables or plan.results or inserted), stats)

    def _plans(self, uses: list, ctx, target, granularity, symmetric, reduce: set) -> dict:
        """id(weight) -> WeightPlan, decided by its first reader (in 7 bits when its id is
        in `reduce`: a reader's u8 x s8 pair sums would saturate); checks the ranges exist."""
        plans: dict = {}
        for use in uses:
            if id(use.weight) not in plans:
                plans[id(use.weight)] = plan = self._plan(use, ctx, target, granularity, symmetric, reduce)
                if plan.storage != "b1" and plan.group is None:
                    recorded_range(use.weight.producer, use.weight.name)
        return plans

    def _plan(self, use, ctx, target, granularity, symmetric, reduce: set) -> WeightPlan:
        """How the first reader of a weight wants it stored."""
        node, w = use.consumer, use.weight
        bits = choices.weight_bits(node, self.weights)
        storage = choices.weight_storage(node, bits, target, ctx)
        qrange, reduce_range = choices.weight_levels(bits, storage, id(w) in reduce)
        return WeightPlan(storage, _granularity(node, w, granularity, use.axis, _in_axis(use), ctx), symmetric,
                          qrange, reduce_range)


def _in_axis(use) -> Optional[int]:
    """The reduction axis of the weight in the reader `use.consumer`."""
    node, w = use.consumer, use.weight
    operand = next(i for i, v in enumerate(node.inputs) if v is w)
    return reduction_axis(node, operand, w.type.rank)


def _quantize_weights(graph, uses: list, plans: dict, target, ctx) -> None:
    """Quantize every weight constant in place, for all its readers, and mark the readers."""
    readers: dict = {}
    for use in uses:
        readers.setdefault(id(use.weight), []).append(use)
    for key, group in readers.items():
        _quantize_one(graph, group, plans[key], target, ctx)
    for use in uses:
        plan = plans[id(use.weight)]
        use.consumer.attrs["q.bits"] = plan.layer_bits
        use.consumer.attrs["q.granularity"] = plan.granularity
        if plan.reduce_range:
            use.consumer.attrs["q.reduce_range"] = True


def _quantize_one(graph, uses: list, plan: WeightPlan, target, ctx) -> None:
    """Quantize one weight constant for all its readers `uses` (the first decides the layout)."""
    first = uses[0]
    node, w = first.consumer, first.weight
    const = w.producer
    array = const.attrs["value"].array
    min_scale = _bias_min_scale(graph, uses, plan, target)
    q, t, adjusted = quantize_weight(array, const, w.name, plan, first.axis, _in_axis(first),
                                     const.attrs.get("q.method", "minmax"), min_scale)
    const.meta["float_value"] = array  # for bias-correct; a cache, like all meta
    const.attrs["value"] = Dense(q)
    w.type = t
    _report(node, w, t, adjusted, ctx)


def _bias_min_scale(graph, uses: list, plan: WeightPlan, target):
    """The weight scale every reader's bias needs (bias_fit.py), per parameter; None if none."""
    if plan.group is not None:
        return None  # block scales: the accumulator scale is the lowering's choice
    needs = [n for n in (min_weight_scale(graph, u, plan.storage, plan.symmetric, target) for u in uses)
             if n is not None]
    if not needs:
        return None
    per_channel = plan.granularity == "channel" and all(u.axis == uses[0].axis for u in uses)
    return np.max(needs, axis=0) if per_channel else max(float(n.max()) for n in needs)


def _report(node, w, t, adjusted, ctx) -> None:
    where = node.outputs[0].name

    def which(mask) -> str:
        if t.group is not None:
            return f"{int(mask.sum())} weight block(s)"
        return "the tensor" if t.axis is None else describe_channels(mask)

    if adjusted.degenerate.any():
        ctx.note(f"{node.label()}: weight %{w.name} has a degenerate (all-zero or nearly) range in "
                 f"{which(adjusted.degenerate)}; given its widest channel's scale, or [-1, 1]'s if it has none "
                 f"(zero stays exact)", node=where)
    if adjusted.raised.any():
        scale = t.scale.array.reshape(-1)
        ctx.warn(f"{node.label()}: the bias of {which(adjusted.raised)} does not fit the int32 accumulator at the "
                 f"calibrated weight scale; weight %{w.name} scale raised to "
                 f"{float(scale[np.argmax(adjusted.raised)]):.3g} there so it fits", node=where)


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


def _check_calibrated_width(acts: str, ctx) -> None:
    """A clipping range searched for one width, stored at another, is a silent loss:
    calibrate{bits=4} with 8-bit storage clips what 8 bits could keep, and the reverse
    keeps outliers 4 bits cannot afford."""
    method, bits = ctx.options.get(CALIBRATED_ACT_BITS, (None, None))
    if bits is not None and bits != STORAGE_BITS[acts]:
        ctx.warn(f"calibrate{{method={method},bits={bits}}} searched activation ranges for {bits}-bit storage, "
                 f"but quantize stores activations as {acts} ({STORAGE_BITS[acts]} bits): give calibrate "
                 f"bits={STORAGE_BITS[acts]} or quantize acts= of {bits} bits")
