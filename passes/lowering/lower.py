"""`lower`: the fake-quant graph (float ops with quantized types) -> integer ops.

The stage reads as one rule list (integer products, codebook convolutions, elementwise,
pools, tables, and requantizes in front of pass-throughs) applied to a fixed point, followed by explicit
dequantize / quantize around whatever stays float (docs/quantization.md, stage 3).
Rounding and accumulator width come from the target: the pass option, else
`ctx.target`, else "generic".
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from qcompiler.ir.core import Graph
from qcompiler.ir.types import QuantType
from qcompiler.passmanager import Pass, PassContext, PassResult, register_pass
from qcompiler.rewrite import RuleSet, apply_rules
from qcompiler.targets import Target, get_target

from .boundaries import insert_float_boundaries, is_integer, needs_float_boundary
from .codebook import codebook_rules
from .elementwise import elementwise_rules
from .embedding import embedding_rules
from .errors import LoweringError
from .ibert import ibert_rules
from .lut import lut_rules
from .pass_through import pass_through_rules
from .pools import pool_rules
from .products import product_rules


def lowering_rules(target: Target) -> RuleSet:
    return RuleSet(ibert_rules() + product_rules(target) + codebook_rules(target) + elementwise_rules(target)
                   + pool_rules(target)
                   + lut_rules() + embedding_rules() + pass_through_rules(target))


@register_pass
@dataclass(frozen=True)
class Lower(Pass):
    """Rewrite quantized float ops into integer ops. Stats count the integer ops emitted
    per kind, `identity-activation` the activations dropped as exact identities and
    `float` the ops kept in float between a dequantize and a quantize."""

    name: ClassVar[str] = "lower"
    target: str = ""  # overrides ctx.target (handy in .qir tests)

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        target = get_target(self.target or ctx.target or "generic")
        _check_weights_runnable(graph, target)
        before = Counter(n.op for n in graph.nodes if is_integer(n))
        hits = apply_rules(graph, lowering_rules(target))
        boundaries = insert_float_boundaries(graph)
        stats = Counter(n.op for n in graph.nodes if is_integer(n)) - before
        stats.update({k: n for k, n in (*hits.items(), *boundaries.items()) if k in ("identity-activation", "float")})
        if stats.get("float"):
            ctx.note(f"{stats['float']} ops on quantized values stay float between dequantize and quantize")
        return PassResult(bool(stats), dict(stats))

    def ensures(self, graph: Graph) -> None:
        for node in graph.nodes:
            if needs_float_boundary(node):
                raise LoweringError(f"lower left {node.label()} computing on quantized values in float")


def _check_weights_runnable(graph: Graph, target: Target) -> None:
    """Weights quantized for another target (`lower{target=...}` naming a different one
    than quantize used) would lower to kernels this target cannot run: refuse, naming the
    layer, rather than emit them. Weight readers are the nodes quantize gave `q.bits`."""
    for node in graph.nodes:
        if "q.bits" not in node.attrs:
            continue
        for v in node.inputs:
            t = v.type if v is not None else None
            if (isinstance(t, QuantType) and t.storage != "i32" and graph.const_value(v) is not None
                    and not target.supports_weight(node.op, t.storage)):
                raise LoweringError(f"{node.label()}: {t.storage} weights, which target '{target.name}' cannot run "
                                    f"(it runs {', '.join(target.weight_types_for(node.op))} for {node.op}); "
                                    f"quantize for this target")
