"""conv2d(x, codebook weight, b) with quantized input and result -> qcodebook_conv2d.

The codebook weight constant (CodebookType, docs/codebook.md) splits into the two
operands the integer op takes: its codewords as an i8 constant `<w>_codebook` with the
codebook's one scale and zero point 0, and its indices `<w>_indices`. Everything else is
the dense products' lowering: M[c] = s_in · s_codebook / s_out (one value: the codebook
has one scale), the bias as i32 in accumulator units, a fused relu / relu6 / clip folded
into the clamp. Convolutions this cannot take (other padding modes, a table activation,
codewords wider than 8 bits, per-channel activations) keep computing in float on the
weight the codebook stands for.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.codebook import codebook_of
from qcompiler.ir.core import Graph, Node
from qcompiler.ir.types import CodebookType, QuantType
from qcompiler.numerics.accumulator_bias import accumulator_scale
from qcompiler.rewrite import Op, Rule
from qcompiler.targets import Target

from .accumulator import PAIR_SUM_WEIGHTS, check_accumulator, layer_name
from .errors import LoweringError
from .products import GEOMETRY, _integer_bias
from .quant_params import activation_bounds, clamp_for, max_centered, per_tensor, requant_attrs, scale_of

CODEWORD_STORAGE = "i8"


def _codebook_weight(node: Node):
    w = node.inputs[1] if len(node.inputs) > 1 else None
    if w is None or w.producer is None or w.producer.op != "const" or not isinstance(w.type, CodebookType):
        return None
    return w


def _lowerable(m) -> bool:
    node = m.root
    w = _codebook_weight(node)
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    return (w is not None and w.type.codebook_bits <= 8 and len(w.type.kernel_shape) == 2
            and per_tensor(node.inputs[0].type) and per_tensor(node.output.type)
            and node.attrs.get("pad_mode", "zeros") == "zeros" and activation_bounds(node) is not None
            and (bias is None or Graph.const_value(bias) is not None))


def _check_accumulator(node: Node, target: Target, x, codebook: np.ndarray, bias) -> None:
    """terms · max|x − zp| · max|codeword| + max|bias| must fit the target's accumulator;
    on targets whose u8×s8 pair sums saturate, the codewords must keep them exact."""
    w_type = node.inputs[1].type
    terms = int(np.prod(w_type.shape[1:]))
    x_max, word_max = max_centered(x.type), int(np.abs(codebook.astype(np.int64)).max(initial=0))
    bias_bound = int(np.abs(bias.astype(np.int64)).max(initial=0)) if bias is not None else 0
    check_accumulator(node, target, terms, x_max * word_max, bias_bound,
                      f" (|x - zp| <= {x_max} in {x.type.storage} times |codeword| <= {word_max})")
    lo, hi = PAIR_SUM_WEIGHTS
    if target.saturating_pair_sums and x.type.storage == "u8" and (codebook.min() < lo or codebook.max() > hi):
        raise LoweringError(f"{layer_name(node)}: target '{target.name}' saturates u8×s8 pair sums at int16, so "
                            f"codewords must lie in [{lo}, {hi}], but they span [{codebook.min()}, {codebook.max()}] "
                            "(use codebook_bits <= 7)")


def _lower(target: Target):
    def replace(b, m):
        node, graph = m.root, m.graph
        x, w = node.inputs[0], node.inputs[1]
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        out = node.output.type
        words, scale = codebook_of(w.producer)
        origin = w.producer.attrs.get("origin")
        codebook_type = QuantType(CODEWORD_STORAGE, w.type.expressed, words.shape, np.float32(scale), np.int32(0))
        codebook = graph.constant(words.astype(np.int8), name=f"{w.name}_codebook", type=codebook_type, before=node,
                                  origin=f"{origin}.codebook" if origin else None)
        indices = graph.constant(w.producer.attrs["value"].array, name=f"{w.name}_indices", before=node,
                                 origin=f"{origin}.indices" if origin else None)
        acc_scale = accumulator_scale(scale_of(x.type), scale)
        operands = [x, codebook, indices]
        if bias is not None:
            operands.append(_integer_bias(graph, bias, acc_scale, node))
        _check_accumulator(node, target, x, words, graph.const_value(operands[3]) if bias is not None else None)
        attrs = {k: node.attrs[k] for k in GEOMETRY if k in node.attrs and k != "pad_mode"}
        attrs.update(requant_attrs(acc_scale.astype(np.float64) / scale_of(out)), rounding=target.rounding,
                     clamp=clamp_for(out, *activation_bounds(node)))
        attrs.update({k: v for k, v in node.attrs.items() if k.startswith("q.")})
        return b.op("qcodebook_conv2d", operands, attrs, output_types=[out])

    return replace


def codebook_rules(target: Target) -> list:
    return [Rule("qcodebook_conv2d", Op("conv2d"), _lower(target), condition=_lowerable)]
