"""Hand-built fake-quant graphs for the lowering tests (stage 2 of docs/quantization.md
without the quantize pass): a float graph is run on samples to get ranges, then copied
with quantized types — an explicit quantize after each input, per-channel symmetric
weight constants, per-tensor asymmetric activations, pass-throughs sharing their
operand's parameters."""
from dataclasses import replace

import numpy as np

from qcompiler.ir import Graph
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import params_from_range, quantize
from qcompiler.runtime.reference import run_graph

WEIGHTED = {"conv1d", "conv2d", "conv_transpose2d", "linear", "matmul"}  # weights per channel on axis 0
SAME_PARAMS = {"flatten", "reshape", "max_pool2d", "transpose"}


def qtype(storage, shape, lo, hi, symmetric=False, axis=None):
    scale, zp = params_from_range(lo, hi, storage, symmetric)
    return QuantType(storage, "f32", shape, scale, zp, axis)


def weight_type(w, storage="i8", reduce_range=False):
    flat = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    if reduce_range:  # 7-bit weights for targets whose u8×s8 pair sums saturate
        flat = flat * 127 / 63
    return qtype(storage, w.shape, -flat, flat, symmetric=True, axis=0)


def fake_quantize_graph(g: Graph, inputs, act="u8", weights="i8", reduce_range=False, keep_float=()) -> Graph:
    """The fake-quant copy of float graph `g`; ops named in `keep_float` keep float results."""
    _, values = run_graph(g, inputs, keep=True)
    out = Graph(g.name + "_fq")
    new = {}
    for v in g.inputs:
        x = out.add_input(v.name, v.type)
        new[id(v)] = out.add("quantize", [x], name=f"{v.name}_q",
                             output_types=[qtype(act, v.type.shape, values[v.name].min(), values[v.name].max())]).output
    weight_ids = {id(n.inputs[1]) for n in g.nodes if n.op in WEIGHTED}
    for node in g.nodes:
        v = node.output
        if node.op == "const":
            array = g.const_value(v)
            if id(v) in weight_ids:
                t = weight_type(array, weights, reduce_range)
                new[id(v)] = out.constant(quantize(array, t), name=v.name, type=t, origin=node.attrs.get("origin"))
            else:
                new[id(v)] = out.constant(array, name=v.name)
            continue
        operands = [new[id(i)] if i is not None else None for i in node.inputs]
        if node.op in keep_float:
            t = v.type
        elif node.op in SAME_PARAMS:
            t = replace(operands[0].type, shape=v.type.shape)
        else:
            t = qtype(act, v.type.shape, values[v.name].min(), values[v.name].max())
        new[id(v)] = out.add(node.op, operands, dict(node.attrs), name=v.name, output_types=[t]).output
    out.set_outputs([new[id(v)] for v in g.outputs])
    return out
