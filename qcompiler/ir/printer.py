"""The deterministic printer of the textual IR (grammar in docs/ir.md).

    graph @net(%x: f32[N,1,28,28]) -> (f32[N,10]) {
      %w = const() {origin="conv1.weight", value=dense<blob:0> : f32[16,1,3,3]} : f32[16,1,3,3]
      %c = conv2d(%x, %w, None) {pad=[1, 1, 1, 1], q.bits=4, stride=[1, 1]} : f32[N,16,28,28]
      return %c
    }

Same graph, same bytes: attributes and dictionaries print sorted by key, floats print
in their shortest form that parses back to the identical value. Arrays with more than
INLINE_LIMIT elements go to the caller's `blobs` list and print as `dense<blob:K>`.
"""
from __future__ import annotations

import json
import math
import re
from typing import Optional

import numpy as np

from .core import Graph, Node
from .dense import Dense
from .errors import QIRError
from .types import CodebookType, MinifloatType, NUMPY_DTYPES, QuantType, TensorType, Type

INLINE_LIMIT = 16
# names the lexer reads as one bare word; anything else is printed as a JSON string
BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]*")
# words with a meaning of their own in attribute values; as keys or dims they are quoted
RESERVED = {"true", "false", "None", "inf", "nan", "dense"}


def print_graph(graph: Graph, blobs: Optional[list] = None) -> str:
    """The text of `graph`. Large arrays are appended to `blobs` (when given) and printed
    as `dense<blob:K>` with K their index in that list."""
    p = _Printer(blobs)
    return p.graph(graph)


def format_type(t: Type, blobs: Optional[list] = None) -> str:
    """`f32[N,3]`, `q<i8:f32, scale=0.5, zp=0>[4]`, ... (large arrays as `dense<blob:K>`)."""
    return _Printer(blobs).type(t)


def format_attr(value, blobs: Optional[list] = None) -> str:
    return _Printer(blobs).attr(value)


def format_float(x, dtype: str = "f64") -> str:
    """Shortest text that parses back (decimal -> f64 -> `dtype`) to exactly `x`."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if dtype in ("f32", "f16"):
        # numpy finds the fewest digits for the narrow type; laid out by numpy ("1e+12") or by
        # Python's repr ("0.0001"), whichever is shorter. The f64 repr can still win: f32 1e12
        # is 999999995904.0 exactly, and "1000000000000.0" is longer.
        narrow = NUMPY_DTYPES[dtype](x)
        digits = str(narrow)
        candidates = [repr(float(digits)), digits, repr(x)]
        exact = [t for t in candidates if _is_float_literal(t) and NUMPY_DTYPES[dtype](float(t)) == narrow]
        return min(exact, key=len)
    return repr(x)


def _is_float_literal(text: str) -> bool:
    """The lexer reads a float only with a '.' or an exponent (else it is an int)."""
    return "." in text or "e" in text


def quote(s: str) -> str:
    return json.dumps(s)


def word(s: str) -> str:
    """A key, graph name or op name: bare when the lexer reads it back as one word."""
    return s if BARE_WORD.fullmatch(s) and s not in RESERVED else quote(s)


def dense_dtype_name(dt: np.dtype) -> str:
    for name, np_dt in NUMPY_DTYPES.items():
        if np.dtype(np_dt) == dt:
            return name
    raise QIRError(f"cannot print an array of numpy dtype {dt}: the IR text has {sorted(NUMPY_DTYPES)}")


class _Printer:
    def __init__(self, blobs: Optional[list]):
        self.blobs = blobs
        self.blob_index: dict = {}  # Dense -> its blob number

    # --- graph ------------------------------------------------------------------------
    def graph(self, g: Graph) -> str:
        args = ", ".join(self.argument(g, v) for v in g.inputs)
        results = ", ".join(self.type(v.type) for v in g.outputs)
        header = f"graph @{word(g.name)}({args}) -> ({results})"
        graph_attrs = {"opset_imports": dict(g.opset_imports), "source_names": g.source_names}
        if any(graph_attrs.values()):
            header += " attributes " + self.attr_dict({k: v for k, v in graph_attrs.items() if v})
        lines = [header + " {"]
        lines += ["  " + self.node(n) for n in g.nodes]
        ret = ", ".join(f"%{v.name}" for v in g.outputs)
        lines.append(f"  return {ret}" if ret else "  return")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def argument(self, g: Graph, v) -> str:
        attrs = g.input_attrs.get(v.name)
        return f"%{v.name}: {self.type(v.type)}" + (" " + self.attr_dict(attrs) if attrs else "")

    def node(self, n: Node) -> str:
        results = ", ".join(f"%{v.name}" for v in n.outputs)
        operands = ", ".join("None" if v is None else f"%{v.name}" for v in n.inputs)
        text = f"{results} = " if results else ""
        text += f"{word(n.op)}({operands})"
        if n.attrs:
            text += " " + self.attr_dict(n.attrs, n)
        types = ", ".join(self.type(v.type) for v in n.outputs)
        return text + " : " + (types or "()")

    def attr_dict(self, attrs: dict, node: Optional[Node] = None) -> str:
        items = []
        for k in sorted(attrs):
            if not isinstance(k, str):
                raise QIRError(f"attribute key {k!r} is not a string" + (f" on node {node.label()}" if node else ""))
            try:
                items.append(f"{word(k)}={self.attr(attrs[k])}")
            except QIRError as e:
                where = f"node {node.label()}: " if node else ""
                raise QIRError(f"{where}attribute '{k}': {e}") from None
        return "{" + ", ".join(items) + "}"

    # --- attribute values ---------------------------------------------------------------
    def attr(self, v) -> str:
        if v is None:
            return "None"
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return format_float(v)
        if isinstance(v, str):
            return quote(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(self.attr(x) for x in v) + "]"
        if isinstance(v, dict):
            return self.attr_dict(v)
        if isinstance(v, Dense):
            return self.dense(v)
        if isinstance(v, np.ndarray):
            return self.dense(Dense(v))
        raise QIRError(f"cannot print attribute value {v!r} of Python type {type(v).__name__}")

    def dense(self, d: Dense) -> str:
        dtype = dense_dtype_name(d.dtype)
        shape = "[" + ",".join(str(s) for s in d.shape) + "]"
        if d.size <= INLINE_LIMIT:
            body = self._elements(d.array, dtype)
        else:
            # equal arrays share a blob (a quantized type prints with its value and again
            # in the graph signature); arrays compare by content, so this is deterministic
            if d not in self.blob_index:
                self.blob_index[d] = len(self.blobs) if self.blobs is not None else len(self.blob_index)
                if self.blobs is not None:
                    self.blobs.append(d.array)
            body = f"blob:{self.blob_index[d]}"
        return f"dense<{body}> : {dtype}{shape}"

    def _elements(self, a: np.ndarray, dtype: str) -> str:
        if a.ndim == 0:
            return self._scalar(a[()], dtype)
        return "[" + ", ".join(self._elements(x, dtype) for x in a) + "]"

    @staticmethod
    def _scalar(x, dtype: str) -> str:
        if dtype == "bool":
            return "true" if x else "false"
        if dtype in ("f64", "f32", "f16"):
            return format_float(x, dtype)
        return str(int(x))

    # --- types ---------------------------------------------------------------------------
    def type(self, t: Type) -> str:
        shape = "[" + ",".join(str(d) if isinstance(d, int) else self._dim(d) for d in t.shape) + "]"
        if isinstance(t, TensorType):
            return t.dtype + shape
        if isinstance(t, QuantType):
            params = []
            if t.axis is not None:
                params.append(f"axis={t.axis}")
            if t.group is not None:
                params.append(f"group={t.group}")
            params.append(f"scale={self._param(t.scale, 'f32', 'float32')}")
            params.append(f"zp={self._param(t.zero_point, 'i32', 'int32')}")
            return f"q<{t.storage}:{t.expressed}, {', '.join(params)}>{shape}"
        if isinstance(t, MinifloatType):
            fn = (", fn" if t.no_nan_inf else "") + (", finite" if t.finite else "")
            if t.axis is None:
                return f"mf<{t.format}:{t.expressed}, bias={t.bias}{fn}, scale={format_float(t.scale)}>{shape}"
            return f"mf<{t.format}:{t.expressed}, bias={t.bias}{fn}, axis={t.axis}, scale={self.dense(t.scale)}>{shape}"
        if isinstance(t, CodebookType):
            kernel = "[" + ", ".join(str(k) for k in t.kernel_shape) + "]"
            return f"cb<cb{t.codebook_bits}:idx{t.index_bits}:{t.expressed}, kernel={kernel}>{shape}"
        raise QIRError(f"cannot print type {t!r}")

    def _param(self, d: Dense, short_dtype: str, np_name: str) -> str:
        """A scalar scale (f32) or zero point (i32) prints bare; anything else as dense."""
        if d.shape == () and d.dtype == np.dtype(np_name):
            return self._scalar(d.array[()], short_dtype)
        return self.dense(d)

    @staticmethod
    def _dim(d: str) -> str:
        return d if d == "?" or (BARE_WORD.fullmatch(d) and d not in RESERVED) else quote(d)
