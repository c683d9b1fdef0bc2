"""Accumulator safety: before emitting an integer reduction, prove from the storage
ranges and the reduction length that |acc| < 2^(accumulator_bits - 1) on the target,
and on targets whose u8×s8 pair sums saturate at int16 (x86 AVX2 without VNNI) that
the weights keep every pair sum exact."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.types import QuantType
from qcompiler.targets import Target

from .errors import LoweringError
from .quant_params import max_centered

# vpmaddubsw adds two u8×s8 products into int16: 2 · 255 · 64 = 32640 <= 32767
PAIR_SUM_WEIGHTS = (-64, 63)


def layer_name(node: Node) -> str:
    """How errors name a layer: its result and, when known, the module it came from."""
    origins = [v.producer.attrs.get("origin") for v in node.inputs
               if v is not None and v.producer is not None and v.producer.op == "const"]
    origin = next((o for o in origins if o), node.attrs.get("origin"))
    return f"layer %{node.outputs[0].name} ({node.op}{f', {origin}' if origin else ''})"


def bias_headroom(target: Target, terms: int, term_bound: int) -> int:
    """The largest |bias| (an int32) that check_accumulator accepts beside `terms`
    products each bounded by `term_bound`; 0 or less when the products alone may not fit."""
    return min(2 ** (target.accumulator_bits - 1) - 1 - terms * term_bound, 2 ** 31 - 1)


WIDTH_FIX = ("quantize with narrower activations (quantize{acts=i4}) or weights (quantize{weights=i4}), "
             "or split the layer into shorter reductions")


def check_accumulator(node: Node, target: Target, terms: int, term_bound: int, bias_bound: int = 0,
                      detail: str = "", bias_cause: Optional[Callable[[], str]] = None) -> None:
    """`terms` products each bounded by `term_bound` (`detail` says why), plus a bias, must
    fit. The error names the cause: the products alone (the widths), or the bias
    (`bias_cause()` says which channel and why)."""
    limit = 2 ** (target.accumulator_bits - 1)
    worst = terms * term_bound + bias_bound
    if worst < limit:
        return
    bias = f" plus a bias up to {bias_bound}" if bias_bound else ""
    if terms * term_bound >= limit or not bias_cause:
        cause = f"the products alone reach {terms * term_bound}: {WIDTH_FIX}"
    else:
        cause = bias_cause()
    raise LoweringError(
        f"{layer_name(node)}: the {target.accumulator_bits}-bit accumulator of target '{target.name}' may "
        f"overflow: {terms} terms of magnitude up to {term_bound}{detail}{bias} reach {worst} >= "
        f"2^{target.accumulator_bits - 1}; {cause}")


def _bias_cause(target: Target, x: Value, w: Value, bias: np.ndarray) -> str:
    """Why a bias is too large in accumulator units: s_x · s_w[c] is small next to it."""
    c = int(np.argmax(np.abs(bias.astype(np.int64))))
    s_x = float(x.type.scale.array.reshape(-1)[0])
    scales = w.type.scale.array.reshape(-1)
    per_channel = w.type.axis is not None and w.type.group is None and scales.size == bias.size
    s_w = float(scales[c] if per_channel else scales.max())
    clamped = " (clamped: it does not fit int32)" if abs(int(bias[c])) >= 2 ** 31 - 1 else ""
    return (f"the bias of channel {c} is {int(bias[c])}{clamped} in units of s_x · s_w = {s_x:.3g} · {s_w:.3g}, "
            f"a weight scale too small for that bias (a degenerate or tiny weight range): quantize for target "
            f"'{target.name}' again, which raises such channels' weight scales until their biases fit")


# a run-time bound below this would reject ordinary sequences: such a product stays float
MIN_RUNTIME_TERMS = 256


def largest_length(target: Target, term_bound: int, bias_bound: int = 0) -> int:
    """The most terms check_accumulator accepts: the bound a symbolic reduction length is
    checked against at run time (the `max_terms` of a qmatmul)."""
    return max((2 ** (target.accumulator_bits - 1) - 1 - bias_bound) // max(term_bound, 1), 0)


def symbolic_length_bound(target: Target, x: Value, w: Value) -> int:
    """`largest_length` of an un-biased product of x and w (a matmul over a run-time K)."""
    return largest_length(target, max_centered(x.type) * max_centered(w.type))


def check_dot_product(node: Node, target: Target, x: Value, w: Value, terms, bias: Optional[np.ndarray]) -> None:
    """A conv / linear / matmul: reduction length `terms` (Cin/groups · kernel, or K; a
    symbolic K is bounded at run time by `symbolic_length_bound` instead)."""
    if not isinstance(terms, int):
        if bias is not None or symbolic_length_bound(target, x, w) < MIN_RUNTIME_TERMS:
            raise LoweringError(f"{layer_name(node)}: the reduction length {terms} is symbolic, and the accumulator "
                                f"holds fewer than {MIN_RUNTIME_TERMS} terms")
        return
    bias_bound = int(np.abs(bias.astype(np.int64)).max()) if bias is not None and bias.size else 0
    x_max, w_max = max_centered(x.type), max_centered(w.type)
    check_accumulator(node, target, terms, x_max * w_max, bias_bound,
                      f" (|x - zp| <= {x_max} in {x.type.storage} times |w - zp| <= {w_max} in {w.type.storage})",
                      (lambda: _bias_cause(target, x, w, bias)) if bias_bound else None)
    if target.saturating_pair_sums and x.type.storage == "u8" and w.type.storage == "i8":
        _check_pair_sums(node, target, w)


def _check_pair_sums(node: Node, target: Target, w: Value) -> None:
    lo, hi = PAIR_SUM_WEIGHTS
    values = Graph.const_value(w)
    w_lo, w_hi = (int(values.min()), int(values.max())) if values is not None and values.size else (-128, 127)
    if w_lo < lo or w_hi > hi:
        what = f"weights span [{w_lo}, {w_hi}]" if values is not None else "the s8 operand is not a constant"
        raise LoweringError(
            f"{layer_name(node)}: target '{target.name}' saturates u8×s8 pair sums at int16, so s8 weights must lie "
            f"in [{lo}, {hi}] (7 bits; the quantize pass sets q.reduce_range for this), but {what}")


def check_sum(node: Node, target: Target, x_type: QuantType, count) -> None:
    """A pool: `count` centred activations summed."""
    if not isinstance(count, int):
        raise LoweringError(f"{layer_name(node)}: the window size {count} is symbolic")
    check_accumulator(node, target, count, max_centered(x_type))
