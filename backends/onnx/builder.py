"""Building an onnx-ir model: unique value names, nodes, deduplicated initializers,
typed graph inputs and outputs.

Names: values the exporter maps IR values onto get the IR names (reserved up front);
everything else is `<hint>:<what>`, which never collides with an IR name (IR names
cannot contain ':').
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import ml_dtypes
import numpy as np
import onnx
import onnx_ir as ir

from qcompiler.frontends.onnx_types import DTYPE_TO_ONNX
from qcompiler.ir.types import TensorType

from .errors import OnnxExportError


def onnx_dtype(dtype: str) -> ir.DataType:
    """The ONNX element type of an IR dtype."""
    try:
        return ir.DataType(DTYPE_TO_ONNX[dtype])
    except KeyError:
        raise OnnxExportError(f"IR dtype {dtype!r} has no ONNX element type") from None


def onnx_shape(shape) -> ir.Shape:
    """An IR shape with symbolic dims as dim_params. Unknown dims stay unnamed: "?" and
    the names inference derives from it ("?_out"), which would tell ONNX Runtime that
    unrelated sizes (a map's height and width) are equal."""
    return ir.Shape([None if isinstance(d, str) and "?" in d else d for d in shape])


class OnnxBuilder:
    def __init__(self, name: str, opset_imports: Mapping[str, int]):
        self.name = name
        self.opset_imports = dict(opset_imports)
        self.nodes: list[ir.Node] = []
        self.inputs: list[ir.Value] = []
        self.outputs: list[ir.Value] = []
        self.initializers: list[ir.Value] = []
        self._taken: set[str] = set()
        self._reserved: set[str] = set()
        self._constants: dict[tuple, ir.Value] = {}
        self.scope = "graph"  # helper values are named after it (the exporter sets the IR node's name)

    @property
    def opset(self) -> int:
        return self.opset_imports[""]

    # --- names ------------------------------------------------------------------------
    def reserve(self, names) -> None:
        """Keep `names` for `claim`: `unique` never hands them out."""
        self._reserved.update(names)

    def unique(self, hint: str) -> str:
        name, k = hint, 0
        while name in self._taken or name in self._reserved:
            k += 1
            name = f"{hint}_{k}"
        self._taken.add(name)
        return name

    def claim(self, name: str) -> str:
        """A reserved name for the value it was reserved for (or a unique variant if some
        other value took it already)."""
        if name in self._reserved and name not in self._taken:
            self._taken.add(name)
            return name
        return self.unique(name)

    def rename(self, value: ir.Value, name: str) -> None:
        self._taken.discard(value.name)
        value.name = self.claim(name)

    # --- graph parts ----------------------------------------------------------------------
    def add_input(self, name: str, t: TensorType) -> ir.Value:
        v = ir.Value(name=self.claim(name), type=ir.TensorType(onnx_dtype(t.dtype)), shape=onnx_shape(t.shape))
        self.inputs.append(v)
        return v

    def add_output(self, value: ir.Value, name: str, t: TensorType) -> None:
        """Make `value` a graph output called `name` (through an Identity when the value is
        an initializer, another output, or carries another name)."""
        initializer = value.producer() is None and value not in self.inputs
        if initializer or value in self.outputs or value.name != name:
            value = self.op("Identity", [value], name=name)
        value.dtype = onnx_dtype(t.dtype)
        value.shape = onnx_shape(t.shape)
        self.outputs.append(value)

    def initializer(self, array: np.ndarray, hint: str, dtype: Optional[ir.DataType] = None, *,
                    claimed: bool = False) -> ir.Value:
        """A new initializer holding `array` (as `dtype` when given: INT4/UINT4 or
        BFLOAT16 elements held in wider numpy arrays), named `hint` made unique (or
        exactly `hint` when the caller `claimed` it already)."""
        array = np.asarray(array)
        if dtype in (ir.DataType.INT4, ir.DataType.UINT4):
            array = array.astype(dtype.numpy())
        elif dtype == ir.DataType.BFLOAT16:
            array = array.astype(ml_dtypes.bfloat16)
        name = hint if claimed else self.unique(hint)
        tensor = ir.tensor(np.array(array, order="C"), name=name)
        v = ir.Value(name=name, type=ir.TensorType(tensor.dtype), shape=ir.Shape(array.shape), const_value=tensor)
        self.initializers.append(v)
        return v

    def constant(self, array, dtype=None) -> ir.Value:
        """A small shared initializer (shapes, axes, scales, zero points, bounds): equal
        arrays of equal type are stored once."""
        array = np.asarray(array, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            self._constants[key] = self.initializer(array, f"const:{array.dtype}")
        return self._constants[key]

    def ints(self, values) -> ir.Value:
        return self.constant(np.asarray(values, np.int64).reshape(-1))

    def op(self, op_type: str, inputs: Sequence[Optional[ir.Value]], attrs: Optional[dict] = None, *,
           domain: str = "", name: str = "", outputs: int = 1):
        """Append a node; returns its output (or the list of its `outputs` outputs), named
        `name` or `<scope>:<op_type>`. Trailing absent inputs are dropped; attributes that
        are None are left out; values may be Python values or ir.Attr."""
        inputs = list(inputs)
        while inputs and inputs[-1] is None:
            inputs.pop()
        attributes = ir.convenience.convert_attributes({k: v for k, v in (attrs or {}).items() if v is not None})
        node = ir.Node(domain, op_type, inputs, attributes, num_outputs=outputs)
        base = name or f"{self.scope}:{op_type}"
        for i, v in enumerate(node.outputs):
            v.name = self.claim(base) if outputs == 1 else self.unique(f"{base}:{i}")
        node.name = node.outputs[0].name if node.outputs else base
        self.nodes.append(node)
        return node.outputs[0] if outputs == 1 else list(node.outputs)

    # --- result -------------------------------------------------------------------------------
    def _live_nodes(self) -> list:
        """The nodes an output depends on: an emitter may read around a node made earlier
        (a DequantizeLinear whose only reader measures the storage's shape instead)."""
        needed = {id(v) for v in self.outputs}
        live = []
        for node in reversed(self.nodes):
            if any(id(v) in needed for v in node.outputs):
                live.append(node)
                needed.update(id(v) for v in node.inputs if v is not None)
        return live[::-1]

    def model(self) -> ir.Model:
        graph = ir.Graph(self.inputs, self.outputs, nodes=self._live_nodes(), initializers=self.initializers,
                         opset_imports=self.opset_imports, name=self.name)
        opsets = [onnx.helper.make_opsetid(d, v) for d, v in self.opset_imports.items()]
        return ir.Model(graph, ir_version=onnx.helper.find_min_ir_version_for(opsets, ignore_unknown=True),
                        producer_name="qcompiler")
