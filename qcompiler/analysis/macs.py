"""Multiply-accumulate counts of the ops that do the arithmetic (conv, linear, matmul,
the codebook convolution),
from the operand and result types alone.

Symbolic dims (a dynamic batch "N") count as 1, so a count with a dynamic batch is per
sample. Ops without a reduction (elementwise, pooling, data movement) count 0 MACs.
"""
from __future__ import annotations

import math

from ..ir.core import Node

# each op -> the op it stands for after lowering (same operands, same layout)
_INTEGER_FORMS = {"qconv1d": "conv1d", "qconv2d": "conv2d", "qlinear": "linear", "qmatmul": "matmul"}


def macs(node: Node) -> int:
    """Multiply-accumulates `node` performs for one run (per sample when batch is dynamic)."""
    op = _INTEGER_FORMS.get(node.op, node.op)
    if op in ("conv1d", "conv2d"):
        # every output element reduces over one filter: Cin/groups · kernel elements
        weight = node.inputs[1].type.shape
        return _numel(node.outputs[0].type.shape) * _numel(weight[1:])
    if op == "qcodebook_conv2d":
        # per input channel, one k×k convolution per codeword at every output position;
        # the gathers that pick each kernel's codeword result are additions, not MACs
        out, codebook = node.outputs[0].type.shape, node.inputs[1].type.shape
        positions = _numel(out) // max(_dim(out[1]), 1)
        return _dim(node.inputs[0].type.shape[1]) * _numel(codebook) * positions
    if op == "conv_transpose2d":
        # every input element is scattered through one filter slice: Cout/groups · kernel
        weight = node.inputs[1].type.shape
        return _numel(node.inputs[0].type.shape) * _numel(weight[1:])
    if op == "linear":
        return _numel(node.outputs[0].type.shape) * _dim(node.inputs[1].type.shape[-1])
    if op == "matmul":
        return _numel(node.outputs[0].type.shape) * _dim(node.inputs[0].type.shape[-1])
    if op == "gemm":
        a = node.inputs[0].type.shape
        k = a[0] if node.attrs.get("trans_a") else a[-1]
        return _numel(node.outputs[0].type.shape) * _dim(k)
    return 0


def _dim(d) -> int:
    return d if isinstance(d, int) else 1


def _numel(shape) -> int:
    return math.prod(_dim(d) for d in shape)
