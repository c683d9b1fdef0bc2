"""fuse-activations: conv / linear followed by an activation -> one node carrying the
activation in its fused attributes (docs/ops.md, "Fused activation attrs")."""
from __future__ import annotations

from qcompiler.passmanager import PassResult, graph_pass
from qcompiler.rewrite import Op, Rule, apply_rules

from ..calibration.attrs import with_result_calibration

PRODUCERS = ("conv1d", "conv2d", "conv_transpose2d", "linear")

# activation op -> fused attributes, given the activation node
FUSABLE = {
    "relu": lambda act: {"activation": "relu"},
    "relu6": lambda act: {"activation": "relu6"},
    "hardswish": lambda act: {"activation": "hardswish"},
    "sigmoid": lambda act: {"activation": "sigmoid"},
    "clip": lambda act: {"activation": "clip", "activation_min": act.attrs.get("min"),
                         "activation_max": act.attrs.get("max")},
    "leaky_relu": lambda act: {"activation": "leaky_relu", "activation_alpha": act.attrs.get("alpha", 0.01)},
}


def _rule(act_op: str, fused) -> Rule:
    # single_use: another reader of the conv result would need it without the activation
    pattern = Op(act_op, Op(PRODUCERS, name="conv", single_use=True, attrs={"activation": None}))

    def replace(b, m):
        conv = m["conv"]
        attrs = {**conv.attrs, **{k: v for k, v in fused(m.root).items() if v is not None}}
        attrs = with_result_calibration(attrs, m.root)  # the result is now the activation's
        return b.op(conv.op, list(conv.inputs), attrs)

    return Rule(f"fuse-{act_op.replace('_', '-')}", pattern, replace)


RULES = [_rule(name, fused) for name, fused in FUSABLE.items()]


@graph_pass("fuse-activations")
def fuse_activations(graph, ctx) -> PassResult:
    hits = apply_rules(graph, RULES)
    return PassResult(bool(hits), hits)
