"""add / mul of quantized operands with a quantized result -> qadd / qmul.

qadd rescales both operands onto the output with one shared shift (one rounding of
the sum); qmul requantizes the exact product by s_a · s_b / s_out.
"""
from __future__ import annotations

from qcompiler.ir.dense import Dense
from qcompiler.numerics.fixed_point import quantize_multipliers_shared_shift
from qcompiler.rewrite import Op, Rule
from qcompiler.targets import Target

from .accumulator import check_accumulator
from .quant_params import clamp_for, max_centered, per_tensor, requant_attrs, scale_of


def _lowerable(m) -> bool:
    node = m.root
    return all(per_tensor(v.type) for v in (*node.inputs, node.output))


def _add(target: Target):
    def replace(b, m):
        (a, c), out = m.root.inputs, m.root.output.type
        s_out = scale_of(out)
        (mult_a, mult_b), shift = quantize_multipliers_shared_shift([scale_of(a.type) / s_out,
                                                                     scale_of(c.type) / s_out])
        attrs = {"multiplier_a": Dense(mult_a.reshape(1)), "multiplier_b": Dense(mult_b.reshape(1)),
                 "shift": Dense(shift.reshape(1)), "rounding": target.rounding, "clamp": clamp_for(out)}
        return b.op("qadd", [a, c], attrs, output_types=[out])

    return replace


def _mul(target: Target):
    def replace(b, m):
        (a, c), out = m.root.inputs, m.root.output.type
        check_accumulator(m.root, target, 1, max_centered(a.type) * max_centered(c.type))
        attrs = {**requant_attrs(scale_of(a.type) * scale_of(c.type) / scale_of(out)), "rounding": target.rounding,
                 "clamp": clamp_for(out)}
        return b.op("qmul", [a, c], attrs, output_types=[out])

    return replace


def elementwise_rules(target: Target) -> list:
    return [Rule("qadd", Op("add"), _add(target), condition=_lowerable),
            Rule("qmul", Op("mul"), _mul(target), condition=_lowerable)]
