"""qcodebook_conv2d prepared for the Numba codebook kernel (backends/numba/codebook_conv.py):
each input channel convolved once per codeword, the planes gathered by index.

Window and requantization are resolved once; codewords and indices are constants in a
lowered graph, converted to the kernel's layout once, or on each call when computed.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.ops.quant_codebook import requant_of, window_of

from ..codebook_conv import codebook_qconv2d_numba
from .common import Step, attrs_of, const_input, quant_input, quant_result, zero_point


def _fixed_or_per_call(node: Node, i: int, convert):
    const = const_input(node, i)
    if const is None:
        return convert
    fixed = convert(const)
    return lambda a: fixed


def prepare_qcodebook_conv2d(node: Node) -> Step:
    attrs = attrs_of(node)
    x_zp = zero_point(quant_input(node, 0, "x"))
    quant_input(node, 1, "codebook")
    out = quant_result(node)
    cout = node.inputs[2].type.shape[0]
    window = window_of(attrs)
    requant = requant_of(attrs["multiplier"].array, attrs["shift"].array, attrs["rounding"], attrs["clamp"],
                         zero_point(out), cout)
    codebook_for = _fixed_or_per_call(node, 1, lambda a: np.ascontiguousarray(a, np.int32))
    indices_for = _fixed_or_per_call(node, 2, lambda a: np.ascontiguousarray(a, np.int64))
    bias_for = _fixed_or_per_call(node, 3, lambda a: np.asarray(a, np.int64).reshape(-1)) \
        if len(node.inputs) > 3 and node.inputs[3] is not None else (lambda a: None)

    def run(args):
        bias = bias_for(args[3] if len(args) > 3 else None)
        return [codebook_qconv2d_numba(args[0], x_zp, codebook_for(args[1]), indices_for(args[2]), bias, window,
                                       requant)]

    return run
