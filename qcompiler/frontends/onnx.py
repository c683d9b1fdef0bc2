"""Import an ONNX model (through onnx-ir) into the IR.

    graph = import_onnx("model.onnx")
    graph, opaque = import_onnx("model.onnx", report=True)

ONNX ops with a converter (onnx_ops_*.py) map onto the op catalog (docs/ops.md);
everything else becomes an opaque `onnx.<OpType>` node (`onnx.<domain>.<OpType>` outside
the default domain) that keeps its ONNX attributes, takes its output types from ONNX
shape inference and runs through onnxruntime. `graph.meta["opaque_ops"]` lists them.
Initializers and Constant nodes become `const` nodes (`origin` = the ONNX name).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import networkx as nx
import onnx
import onnx_ir as ir

from ..ir.core import Graph, Node, Value
from ..ir.dense import Dense
from ..ir.errors import FrontendError, VerifyError
from ..ir.types import TensorType, dtype_of_numpy, tensor_type_of
from ..ir.verifier import format_type, verify
from . import onnx_ops_math, onnx_ops_nn, onnx_ops_pad, onnx_ops_resize, onnx_ops_tensor  # noqa: F401  (register converters)
from .onnx_fold import constant_value, fold_onnx_node
from .onnx_load import ModelSource, load_model
from .onnx_ops import CONVERTERS, OnnxNode, Unsupported
from .onnx_types import OUTPUT_SLOTS_ATTR, attr_value, opaque_op_name, tensor_array, value_type


@dataclass(frozen=True)
class OpaqueOp:
    """An ONNX node that stayed opaque, and why."""

    node: str
    op: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op} (node '{self.node}'): {self.reason}"


def import_onnx(model: ModelSource, *, name: Optional[str] = None,
                input_shapes: Optional[Mapping[str, Sequence]] = None,
                dynamic_batch: Optional[bool] = None, report: bool = False):
    """Import `model` (a path or an onnx.ModelProto) as a Graph.

    `input_shapes` overrides input shapes by name (ints, or strings for symbolic dims);
    `dynamic_batch` True makes dim 0 of every input symbolic, False fixes a symbolic
    dim 0 to 1, None keeps the model's. With `report=True` returns (graph, opaque ops).
    """
    irm, source = load_model(model, input_shapes=input_shapes, dynamic_batch=dynamic_batch)
    default_name = irm.graph.name or (os.path.splitext(os.path.basename(source))[0] if source[0] != "<" else "main")
    graph = Graph(re.sub(r"[^A-Za-z0-9_.-]", "_", name or default_name))
    graph.opset_imports = dict(irm.opset_imports)
    opaque = _Importer(graph, irm, source).run()
    graph.meta["opaque_ops"] = opaque
    try:
        verify(graph)
    except VerifyError as e:
        raise FrontendError(f"{source}: the imported graph does not verify: {e}") from None
    return (graph, opaque) if report else graph


class _Importer:
    def __init__(self, graph: Graph, irm: ir.Model, source: str):
        self.graph, self.onnx, self.source = graph, irm.graph, source
        self.opset = irm.opset_imports.get("", 1)
        self.env: dict[ir.Value, Value] = {}
        self.opaque: list[OpaqueOp] = []

    def run(self) -> list:
        for v in self.onnx.inputs:
            if v.name in self.onnx.initializers:
                continue  # an input with an initializer is a constant (pre-IR-4 style)
            t = value_type(v, f"{self.source}: graph input '{v.name}'")
            if t is None:
                raise FrontendError(f"{self.source}: graph input '{v.name}' has no tensor type and shape")
            self.env[v] = self.graph.add_input(v.name, t)
        try:
            self.onnx.sort()
        except ValueError:  # onnx-ir's topological sort found a cycle
            raise FrontendError(f"{self.source}: the graph has a cycle: {_a_cycle(self.onnx)}") from None
        for node in self.onnx:
            self._convert(node)
        self.graph.set_outputs([self._lookup(v, "graph output") for v in self.onnx.outputs])
        self._keep_source_names()
        self._drop_folded_constants()
        return self.opaque

    def _keep_source_names(self) -> None:
        """IR names are restricted ("gpu_0/data_0" becomes %gpu_0_data_0): the export and
        CompiledModel calls use the model's own names."""
        names = {"inputs": [v.name for v in self.onnx.inputs if v.name not in self.onnx.initializers],
                 "outputs": [v.name for v in self.onnx.outputs]}
        ours = {"inputs": [v.name for v in self.graph.inputs], "outputs": [v.name for v in self.graph.outputs]}
        if names != ours:
            self.graph.source_names = names

    def _drop_folded_constants(self) -> None:
        """Constants read into attributes (clip bounds, axes, pads, ...) are left unused."""
        outputs = {id(v) for v in self.graph.outputs}
        for node in reversed(self.graph.nodes):
            if node.op == "const" and not node.output.uses and id(node.output) not in outputs:
                self.graph.erase(node)

    def _lookup(self, v: ir.Value, where: str) -> Value:
        if v in self.env:
            return self.env[v]
        if v.const_value is None:
            raise FrontendError(f"{self.source}: {where} uses '{v.name}', which no node, input or "
                                "initializer defines (truncated or malformed model?)")
        array = tensor_array(v.const_value, f"{self.source}: initializer '{v.name}'")
        t = TensorType("bf16" if v.const_value.dtype == ir.DataType.BFLOAT16 else dtype_of_numpy(array.dtype), array.shape)
        node = Node("const", [], [t], {"value": Dense(array), "origin": v.name}, [v.name])
        self.env[v] = self.graph.append(node).output
        return self.env[v]

    def _convert(self, node: ir.Node) -> None:
        label = _label(node)
        where = f"{self.source}: {label}"
        inputs = [None if v is None else self._lookup(v, label) for v in node.inputs]
        attrs = {a.name: attr_value(a, where) for a in node.attributes.values()}
        used = [bool(o.name) and (bool(o.uses()) or o.is_graph_output()) for o in node.outputs]
        _check_arity(node, self.opset, where)
        results, reason = None, f"no converter for {node.op_type}"
        if node.domain != "":
            reason = f"domain '{node.domain}'"
        elif node.op_type in CONVERTERS:
            view = OnnxNode(self.graph, node.op_type, node.name or node.op_type, self.opset, inputs, attrs,
                            [o.name or "" for o in node.outputs], used)
            try:
                results = list(CONVERTERS[node.op_type](view))
            except Unsupported as e:
                view.rollback()
                reason = str(e)
            except FrontendError as e:
                raise FrontendError(f"{self.source}: {e}") from None
            except Exception as e:  # a converter meeting a node it did not expect still names the node
                raise FrontendError(f"{where}: cannot convert: {type(e).__name__}: {e}") from e
            else:
                for o, r in zip(node.outputs, results):
                    self._refine(r, o, where)
        if results is None:
            results = self._fold(node, inputs) or self._opaque(node, inputs, attrs, used, where, reason)
        for i, (o, u) in enumerate(zip(node.outputs, used)):
            if i < len(results) and results[i] is not None:
                self.env[o] = results[i]
            elif u:
                raise FrontendError(f"{where}: output {i} '{o.name}' is used but the import gives no value for it")

    def _fold(self, node: ir.Node, inputs) -> Optional[list]:
        """Constant shape arithmetic the catalog cannot express, as `const` nodes."""
        arrays = fold_onnx_node(node, [constant_value(self.graph, v) for v in inputs], self.opset)
        if arrays is None:
            return None
        consts = [Node("const", [], [tensor_type_of(a)], {"value": Dense(a)}, [o.name or "folded"])
                  for o, a in zip(node.outputs, arrays)]
        return [self.graph.append(c).output for c in consts]

    def _opaque(self, node: ir.Node, inputs, attrs, used, where: str, reason: str) -> list:
        op = opaque_op_name(node.domain, node.op_type)
        last = max((i for i, u in enumerate(used) if u), default=-1)
        slots = [i for i in range(last + 1) if node.outputs[i].name]
        types = []
        for i in slots:
            t = value_type(node.outputs[i], where)
            if t is None:
                raise FrontendError(f"{where}: stays opaque ({reason}), but ONNX shape inference gives no "
                                    f"type and rank for its output '{node.outputs[i].name}'")
            types.append(t)
        if slots != list(range(len(slots))):
            attrs = {**attrs, OUTPUT_SLOTS_ATTR: slots}
        while inputs and inputs[-1] is None:
            inputs = inputs[:-1]
        n = self.graph.append(Node(op, inputs, types, attrs, [node.outputs[i].name for i in slots]))
        self.opaque.append(OpaqueOp(node.name or node.op_type, op, reason))
        results: list = [None] * len(node.outputs)
        for i, v in zip(slots, n.outputs):
            results[i] = v
        return results

    def _refine(self, v: Optional[Value], o: ir.Value, where: str) -> None:
        """Check a converted result against ONNX's inferred type; take the static dims
        ONNX knows where the IR's inference left a symbolic one."""
        onnx_t = value_type(o, where) if v is not None else None
        if onnx_t is None or not isinstance(v.type, TensorType):
            return
        ours = v.type
        same = ours.dtype == onnx_t.dtype and ours.rank == onnx_t.rank and all(
            a == b or not isinstance(a, int) or not isinstance(b, int) for a, b in zip(ours.shape, onnx_t.shape))
        if not same:
            raise FrontendError(f"{where}: output '{o.name}' is {format_type(ours)} after import, "
                                f"but ONNX infers {format_type(onnx_t)}")
        shape = tuple(b if isinstance(b, int) else a for a, b in zip(ours.shape, onnx_t.shape))
        if shape != ours.shape:
            v.type = ours.with_shape(shape)


def _label(node: ir.Node) -> str:
    return f"node '{node.name or node.op_type}' ({node.op_type})"


def _check_arity(node: ir.Node, opset: int, where: str) -> None:
    """Required operands present and no more operands than the ONNX schema allows
    (default-domain nodes: `opset` is the model's default-domain version)."""
    if node.domain not in ("", "ai.onnx"):
        return
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, "")
    except onnx.defs.SchemaError:
        return  # an op ONNX does not know stays opaque; onnxruntime judges it
    inputs = list(node.inputs)
    missing = [i for i in range(schema.min_input) if i >= len(inputs) or inputs[i] is None]
    if missing:
        raise FrontendError(f"{where}: required input {missing[0]} is missing "
                            f"({node.op_type}-{schema.since_version} takes at least {schema.min_input})")
    if len(inputs) > schema.max_input:
        raise FrontendError(f"{where}: {len(inputs)} inputs, but {node.op_type}-{schema.since_version} "
                            f"takes at most {schema.max_input}")


def _a_cycle(graph: ir.Graph) -> str:
    """The nodes of one cycle, as `'a' (Add) -> 'b' (Relu) -> 'a' (Add)`."""
    edges = nx.DiGraph()
    for node in graph:
        edges.add_node(node)
        for out in node.outputs:
            edges.add_edges_from((node, user) for user, _ in out.uses())
    cycle = nx.find_cycle(edges)
    return " -> ".join(_label(a) for a, _ in cycle) + f" -> {_label(cycle[0][0])}"
