"""The export walk: IR nodes in order, each written by the first emitter of the form's
tables that accepts it, with every IR value bound to up to two ONNX values:

- its real value (floats; for a quantized value the dequantized storage), named like
  the IR value, and
- for a quantized value, its integer storage, named `<value>:q`.

Whichever one an emitter asks for and is missing is made on demand with
DequantizeLinear / QuantizeLinear, so float ops, integer ops and pass-through ops mix
freely. Constants become initializers when first used (named after their `origin`).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import onnx_ir as ir

from qcompiler.ir.core import Graph, Node, Value
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.registry import is_opaque
from qcompiler.ir.types import MinifloatType, QuantType, TensorType, is_quantized, numpy_dtype
from qcompiler.ir.verifier import format_type

from . import float_math, float_nn, float_tensor, integer_codebook, integer_ops, qoperator, storage_ops  # noqa: F401
from . import dynamic_linear, float8, float_masked_softmax, integer_embedding  # noqa: F401
from . import float_dynamic_indexing, float_isnan, float_runtime_pads, stored_relu  # noqa: F401
from .builder import OnnxBuilder, onnx_dtype
from .conversions import dequantize_linear, quantize_linear, storage_initializer
from .emitters import FORM_INPUTS, FORMS
from .errors import OnnxExportError
from .opaque import emit_opaque


class Exporter:
    def __init__(self, graph: Graph, form: str, opset_imports: dict, channels_last: Optional[bool] = False):
        self.graph, self.form = graph, form
        self.channels_last = channels_last  # whether the result may be rewritten channels-last (None: maybe)
        self.b = OnnxBuilder(graph.name, opset_imports)
        self.node: Optional[Node] = None
        self._real: dict[int, ir.Value] = {}
        self._stored: dict[int, ir.Value] = {}
        self.cache: dict = {}  # emitters memoize shared initializers here

    @property
    def opset(self) -> int:
        return self.b.opset

    def run(self) -> ir.Model:
        for v in self.graph.values():
            if is_quantized(v.type) and not isinstance(v.type, (QuantType, MinifloatType)):
                raise self.error(f"%{v.name} is {format_type(v.type)}: codebook types have no ONNX form here")
        float8.check_activations(self)
        self.b.reserve(v.name for v in self.graph.values())
        self.b.reserve(self.graph.source_input_names() + self.graph.source_output_names())
        for v, name in zip(self.graph.inputs, self.graph.source_input_names()):
            value = self.b.add_input(name, TensorType(plain(v.type).dtype, v.type.shape))
            if isinstance(v.type, QuantType):  # quantized inputs take floats (like the reference)
                self._stored[id(v)] = quantize_linear(self, value, v.type, f"{v.name}:q")
            elif isinstance(v.type, MinifloatType):
                self._real[id(v)] = float8.round_trip(self, value, v.type, f"{v.name}:mf")
            else:
                self._real[id(v)] = value
        for node in self.graph.nodes:
            self._write(node)
        self.node = None
        for v, name in zip(self.graph.outputs, self.graph.source_output_names()):
            self.b.add_output(self.real(v), name, plain(v.type))
        return self.b.model()

    def known_shapes(self) -> dict:
        """{ONNX value name: the IR value's shape} for every value bound to an IR value
        (the layout rewrite needs the shapes; helper values have none)."""
        shapes = {}
        for v in self.graph.values():
            for bound in (self._stored.get(id(v)), self._real.get(id(v))):
                if bound is not None:
                    shapes[bound.name] = tuple(v.type.shape)
        return shapes

    # --- what emitters use -----------------------------------------------------------------------
    def error(self, message: str) -> OnnxExportError:
        where = f"node {self.node.label()}" if self.node is not None else f"graph @{self.graph.name}"
        return OnnxExportError(f"{where}: {message} (form {self.form!r}, opset {self.opset})")

    def const(self, v: Optional[Value]) -> Optional[np.ndarray]:
        return None if v is None or isinstance(v.type, (QuantType, MinifloatType)) else self.graph.const_value(v)

    def real(self, v: Optional[Value]) -> Optional[ir.Value]:
        """The ONNX value holding `v`'s real (float) value."""
        if v is None:
            return None
        if id(v) not in self._real:
            if isinstance(v.type, QuantType):
                self._real[id(v)] = dequantize_linear(self, self.storage(v), v.type, v.name)
            elif isinstance(v.type, MinifloatType):
                self._real[id(v)] = float8.weight(self, v, self._const_name(v))
            elif self.graph.const_value(v) is not None:
                self._real[id(v)] = self.b.initializer(self.graph.const_value(v), self._const_name(v),
                                                       onnx_dtype(v.type.dtype), claimed=True)
            else:
                raise self.error(f"%{v.name} has no ONNX value")
        return self._real[id(v)]

    def storage(self, v: Value) -> ir.Value:
        """The ONNX value holding quantized `v`'s integer storage."""
        if not isinstance(v.type, QuantType):
            raise self.error(f"operand %{v.name} must be quantized, but its type is {v.type}")
        if id(v) not in self._stored:
            array = self.graph.const_value(v)
            if array is None:
                raise self.error(f"%{v.name} has no ONNX value")
            self._stored[id(v)] = storage_initializer(self, array, v.type, self._const_name(v))
        return self._stored[id(v)]

    def real_as(self, v: Value, dtype: str) -> ir.Value:
        """`v`'s real value converted to IR dtype `dtype` (ONNX ops want equal dtypes where
        the IR promotes like torch)."""
        if plain(v.type).dtype == dtype:
            return self.real(v)
        array = self.const(v)
        if array is not None and dtype != "bf16":
            return self.b.constant(array.astype(numpy_dtype(dtype)))
        return self.b.op("Cast", [self.real(v)], {"to": onnx_dtype(dtype)})

    def derived_name(self, v: Value, what: str) -> str:
        """The name of a rewritten copy of constant `v` (a transposed or centred weight)."""
        return f"{v.producer.attrs.get('origin') or v.name}:{what}"

    def _const_name(self, v: Value) -> str:
        """A weight's initializer is named after its origin (module path / ONNX name) where
        that is free, else after the value."""
        origin = v.producer.attrs.get("origin")
        return self.b.unique(origin) if origin and origin != v.name else self.b.claim(v.name)

    # --- the walk ----------------------------------------------------------------------------------
    def _write(self, node: Node) -> None:
        if node.op == "const":
            return  # initializers are made when first used
        self.node = node
        self.b.scope = node.outputs[0].name if node.outputs else node.op
        mark = len(self.b.nodes)
        if is_opaque(node.op):
            values, results = emit_opaque(self, node), "real"
        else:
            values, results = self._emit(node)
        fresh = {id(v) for n in self.b.nodes[mark:] for v in n.outputs}
        for v, value in zip(node.outputs, values):
            self._bind(v, value, results, id(value) in fresh)

    def _emit(self, node: Node) -> tuple:
        for table in FORMS[self.form]:
            emitter = table.get(node.op)
            if emitter is None:
                continue
            values = emitter(self, node)
            if values is not None:
                if len(values) != len(node.outputs):
                    raise self.error(f"emitter gave {len(values)} values for {len(node.outputs)} results")
                return values, table.results
        if self.form == "float" and any(is_quantized(v.type) for v in [*node.inputs, *node.outputs] if v is not None):
            raise self.error("the graph is quantized; export it with form='qdq', 'qoperator' or 'integer'")
        raise self.error(f"op '{node.op}' has no ONNX form here; form {self.form!r} exports {FORM_INPUTS[self.form]}")

    def _bind(self, v: Value, value: ir.Value, results: str, fresh: bool) -> None:
        quantized = isinstance(v.type, QuantType)
        if results == "storage" or (results == "typed" and quantized):
            if fresh:
                self.b.rename(value, f"{v.name}:q")
            self._stored[id(v)] = value
        elif quantized:  # a float op's result, rounded to its quantized type
            if fresh:
                self.b.rename(value, f"{v.name}:f")
            self._stored[id(v)] = quantize_linear(self, value, v.type, f"{v.name}:q")
        elif isinstance(v.type, MinifloatType):  # a float op's result, rounded to its minifloat type
            if fresh:
                self.b.rename(value, f"{v.name}:f")
            self._real[id(v)] = float8.round_trip(self, value, v.type, v.name)
        else:
            if fresh:
                self.b.rename(value, v.name)
            self._real[id(v)] = value


