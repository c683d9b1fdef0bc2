"""`allocate-bits{budget.size=..., budget.bops=..., budget.latency=..., choices=[2,4,8], act_choices=None,
granularity=layer}`: one weight width (and, with `act_choices`, one input-activation
width) per layer, the allocation of least summed sensitivity (`q.sens` from the
sensitivity pass) within the budgets, solved exactly as an ILP (ilp.py). Writes `q.bits`
(read by calibrate-weights and quantize) and, with activation choices, `q.act_bits` on
each layer's node.

Choices and costs: layer_options.py (only what the target can run for a layer's op is
offered, and layers that must agree are tied, so whatever is chosen deploys). Without
`act_choices` activations stay at the target's preferred activation width. Budgets: see
budgets.py. An infeasible budget raises InfeasibleBudget stating the smallest feasible
one. `granularity=channel-group:G` first splits layers into groups of G output channels
that each take their own width (channel_groups.py; b1 among `choices` makes binary
groups possible).

Kernel codebooks compete as choices too: `choices=[2,4,8,cb4]` also offers conv2d layers
with k×k kernels a codebook of 2^4 codewords of `codebook_bits` (codebook_choice.py:
its size, arithmetic and a sensitivity proxy); a layer that gets one carries
`q.index_bits` and `q.codebook_bits` instead of `q.bits`, which `codebook-quantize`
(run next) reads. Minifloat formats compete too (`choices=[8,e4m3,e2m3]`, their
sensitivities from `minifloat-sensitivity`, run after `sensitivity{metric=sqnr}` so the
numbers compare): a layer that gets one carries `q.format`, which `quantize` reads
(docs/minifloat.md).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar, Optional

from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.targets import get_target

from ..calibration.symmetry import target_symmetry
from ..quantize.choices import WEIGHT_STORAGE
from ..quantize.minifloat import is_minifloat
from ..sensitivity.layers import quantizable_layers
from .budgets import parse_budget
from .channel_groups import parse_granularity, split_into_channel_groups
from .codebook_choice import CodebookChoices, codebook_index_bits
from .ilp import solve
from .layer_options import allocation_problem, write_choices
from .residual_choice import residual_terms_bits


@register_pass
@dataclass(frozen=True)
class AllocateBits(Pass):
    name: ClassVar[str] = "allocate-bits"
    budget: dict = field(default_factory=dict)
    choices: tuple = (2, 4, 8)  # weight widths and codebooks "cbI"
    act_choices: Optional[tuple[int, ...]] = None
    granularity: str = "layer"
    codebook_bits: int = 6

    def __post_init__(self):
        for resource, value in self.budget.items():
            parse_budget(resource, value)
        object.__setattr__(self, "choices", tuple(self.choices))
        if any(is_minifloat(b) for b in self.choices) and self.granularity != "layer":
            raise ValueError(f"choices={list(self.choices)}: minifloat formats are chosen per layer "
                             "(granularity=layer)")
        residual = [b for b in self.choices if residual_terms_bits(b) is not None]  # checks "TxB"
        if residual and self.granularity != "layer":
            raise ValueError(f"choices={list(self.choices)}: residual weights are chosen per layer (granularity=layer)")
        widths = [b for b in self.choices if not is_minifloat(b) and b not in residual
                  and codebook_index_bits(b) is None]  # checks cbI
        if not self.choices or any(b not in WEIGHT_STORAGE for b in widths):
            raise ValueError(f"choices={list(self.choices)}: weight widths must be among {sorted(WEIGHT_STORAGE)} "
                             "(or codebooks 'cbI')")
        if not 2 <= self.codebook_bits <= 8:
            raise ValueError(f"codebook_bits={self.codebook_bits} is outside 2..8 (codewords are stored as i8)")
        if self.act_choices is not None:
            object.__setattr__(self, "act_choices", tuple(self.act_choices))  # a pipeline string gives a list
            if not self.act_choices:
                raise ValueError("act_choices is empty")
        parse_granularity(self.granularity)

    def run(self, graph, ctx: PassContext) -> PassResult:
        layers = quantizable_layers(graph)
        if not layers:
            ctx.note("no layer with constant float weights: nothing to allocate")
            return PassResult(False, {"layers": 0})
        target = get_target(ctx.target or "generic")
        group_size = parse_granularity(self.granularity)
        grouped = {}
        if group_size is not None:
            widths = tuple(b for b in self.choices if codebook_index_bits(b) is None)
            grouped = split_into_channel_groups(graph, layers, group_size, widths, target_symmetry(ctx)[0])
            layers = quantizable_layers(graph)
        budgets = {r: parse_budget(r, v) for r, v in self.budget.items()}
        if not budgets:
            ctx.note("no budget given: every layer takes its least sensitive choice")
        codebook = CodebookChoices(graph, self.codebook_bits, ctx.seed, target_symmetry(ctx)[0])
        problem = allocation_problem(graph, layers, target, self.choices, self.act_choices, budgets,
                                     codebook=codebook)
        allocation = solve(problem)
        write_choices(layers, allocation.choices, self.act_choices is not None, codebook)
        mix = Counter(map(str, allocation.choices))
        return PassResult(True, {"layers": len(layers), "ties": len(problem.ties), **grouped,
                                 "objective": allocation.objective, **allocation.costs,
                                 "mix": " ".join(f"{k}:{n}" for k, n in sorted(mix.items()))})
