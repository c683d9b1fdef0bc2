"""NumbaExecutor: runs a lowered integer graph with the Numba kernels.

Preparation happens once, in the constructor: the graph is verified, constant weights
are packed, types and requantization parameters are resolved, and every node gets a
step — an integer kernel, a pass-through on storage, a minifloat product
(ops/minifloat.py), a float32 row kernel (ops/float_rows.py: softmax, masked_softmax,
layer_norm, gelu), or (for other float and unknown ops) the
op's numpy reference through `qcompiler.runtime.reference.run_node`; the labels of the
latter are listed in `fallback_nodes`. Calls then only run the steps.

Values are held like the reference interpreter holds them (integer storage for
quantized values), so `run_storage` can be compared with it integer for integer, but in
narrow containers (`ops.common.storage_dtype`: u8 storage in uint8, not int32): a conv
writes a quarter of the bytes and its reader reads a quarter. Graph inputs are narrowed
once; reference fallbacks get int32 storage, as the reference holds it.
"""
from __future__ import annotations

import numpy as np

from qcompiler.ir.core import Graph, Node
from qcompiler.ir.errors import QIRError
from qcompiler.ir.registry import is_opaque
from qcompiler.ir.types import QuantType
from qcompiler.ir.verifier import verify
from qcompiler.runtime.reference import ExecutionError, Inputs, as_float, bind_inputs, release_plan, run_node

from .ops import INTEGER_STEPS, prepare_storage_op
from .ops.float_rows import prepare_float_rows
from .ops.minifloat import prepare_minifloat
from .ops.common import Step, storage_dtype, storage_int32


class NumbaExecutor:
    def __init__(self, graph: Graph):
        verify(graph)
        self.graph = graph
        self.fallback_nodes: list[str] = []  # labels of nodes run by their numpy reference
        self._steps = [(node, self._prepare(node)) for node in graph.nodes]
        self._release = release_plan(graph)

    def _prepare(self, node: Node) -> Step:
        if node.op == "const":
            value = run_node(node, [])[0]  # a codebook weight left to a float op: the weight it stands for
            return lambda args: [value]
        if not is_opaque(node.op) and node.op in INTEGER_STEPS:
            return INTEGER_STEPS[node.op](node)
        step = prepare_storage_op(node) or prepare_minifloat(node) or prepare_float_rows(node)
        if step is not None:
            return step
        self.fallback_nodes.append(node.label())
        # computed storage as the reference holds it (constants it holds as stored)
        widen = [v is not None and isinstance(v.type, QuantType) and Graph.const_value(v) is None
                 for v in node.inputs]
        return lambda args: run_node(node, [storage_int32(a) if w else a for a, w in zip(args, widen)])

    def _run(self, inputs: Inputs, keep: bool) -> dict:
        """Every value's array when `keep`, else the graph outputs (each other value freed after its
        last reader: the next results reuse its memory instead of fresh pages)."""
        env = bind_inputs(self.graph, inputs)
        for v in self.graph.inputs:
            if isinstance(v.type, QuantType):
                env[id(v)] = env[id(v)].astype(storage_dtype(v.type), copy=False)
        for (node, step), released in zip(self._steps, self._release):
            args = [env[id(v)] if v is not None else None for v in node.inputs]
            try:
                outs = step(args)
            except QIRError:
                raise
            except Exception as e:
                raise ExecutionError(f"node {node.label()} failed: {type(e).__name__}: {e}") from e
            if len(outs) != len(node.outputs):
                raise ExecutionError(f"node {node.label()} produced {len(outs)} results, "
                                     f"expected {len(node.outputs)}")
            for v, a in zip(node.outputs, outs):
                env[id(v)] = np.asarray(a)
            for v in released if not keep else ():
                env.pop(id(v), None)
        return env

    def __call__(self, inputs: Inputs) -> list:
        """Float inputs (list in graph-input order, or dict by name) -> float outputs;
        quantized outputs are dequantized, like `reference.run_graph`."""
        env = self._run(inputs, keep=False)
        return [as_float(env[id(v)], v.type) for v in self.graph.outputs]

    def run_storage(self, inputs: Inputs) -> dict:
        """Every value's runtime array by value name: storage integers for quantized values."""
        env = self._run(inputs, keep=True)
        return {v.name: env[id(v)] for v in self.graph.values() if id(v) in env}
