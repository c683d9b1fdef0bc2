"""avg_pool2d / global_avg_pool of a quantized value -> qavg_pool2d / qglobal_avg_pool,
with the window size folded into the multiplier s_in / (s_out · count). Pools whose
windows count different numbers of elements (uncounted padding, ceil-mode overhang)
stay float. A global pool over a symbolic spatial area carries s_in / s_out and
divides by the count at run time (`runtime_count`; its sum is int64, so no accumulator
bound is needed)."""
from __future__ import annotations

import numpy as np

from qcompiler.ir.ops.pool import AVG_POOL_ATTRS
from qcompiler.ir.ops.quant_pool import avg_pool_plan, uniform_window_count
from qcompiler.ir.registry import get_op
from qcompiler.rewrite import Op, Rule
from qcompiler.targets import Target

from .accumulator import check_sum
from .quant_params import per_tensor, requant_attrs, scale_of

RUNTIME_COUNT_MAX_MULTIPLIER = 2.0**30  # the runtime-count division needs shift >= 1


def _pool_attrs(node) -> dict:
    return get_op("avg_pool2d").with_defaults({k: v for k, v in node.attrs.items() if k in AVG_POOL_ATTRS})


def _avg_lowerable(m) -> bool:
    node = m.root
    if not (per_tensor(node.inputs[0].type) and per_tensor(node.output.type)):
        return False
    a = _pool_attrs(node)
    plan = avg_pool_plan(node.inputs[0].type.shape, a["kernel"], a["stride"], a["pad"], a["ceil_mode"])
    return uniform_window_count(plan, a["count_include_pad"])


def symbolic_area(node) -> bool:
    return not all(isinstance(d, int) for d in node.inputs[0].type.shape[2:])


def runtime_count_fits(node) -> bool:
    """s_in / s_out has a dyadic form with shift >= 1, which the run-time division needs."""
    return scale_of(node.inputs[0].type) / scale_of(node.output.type) < RUNTIME_COUNT_MAX_MULTIPLIER


def _global_lowerable(m) -> bool:
    node = m.root
    if not (per_tensor(node.inputs[0].type) and per_tensor(node.output.type)):
        return False
    return not symbolic_area(node) or runtime_count_fits(node)


def _lower(target: Target, op: str, count_of):
    def replace(b, m):
        node = m.root
        x, out = node.inputs[0], node.output.type
        if op == "qglobal_avg_pool" and symbolic_area(node):
            attrs = {**requant_attrs(scale_of(x.type) / scale_of(out)), "rounding": target.rounding,
                     "runtime_count": True}
            return b.op(op, [x], attrs, output_types=[out])
        count = count_of(node)
        check_sum(node, target, x.type, count)
        attrs = {k: v for k, v in node.attrs.items() if k in AVG_POOL_ATTRS} if op == "qavg_pool2d" else {}
        attrs.update(requant_attrs(scale_of(x.type) / (scale_of(out) * count)), rounding=target.rounding)
        return b.op(op, [x], attrs, output_types=[out])

    return replace


def pool_rules(target: Target) -> list:
    kernel_area = lambda node: int(np.prod(_pool_attrs(node)["kernel"]))  # noqa: E731
    spatial_size = lambda node: int(np.prod(node.inputs[0].type.shape[2:]))  # noqa: E731
    return [Rule("qavg_pool2d", Op("avg_pool2d"), _lower(target, "qavg_pool2d", kernel_area), condition=_avg_lowerable),
            Rule("qglobal_avg_pool", Op("global_avg_pool"), _lower(target, "qglobal_avg_pool", spatial_size),
                 condition=_global_lowerable)]
