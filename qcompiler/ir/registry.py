"""The op registry: each op is declared once with its operands, attribute schema, type
inference and numpy reference.

    @op("relu", inputs=["x"], infer=same_as_first)
    def relu(x):
        return np.maximum(x, 0)

The definitions in ir/ops/ register themselves when the `qcompiler.ir` package loads
(its __init__ imports them), so the registry never imports the ops that import it.

Opaque ops imported from ONNX are named `onnx.<OpType>` (or `onnx.<domain>.<OpType>`)
and are not registered: they carry their output types and run through onnxruntime.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .dense import Dense
from .errors import UnknownOpError, VerifyError
from .types import Type

REQUIRED = object()

# attribute kinds and the Python values they accept
_KIND_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, (bool, np.bool_)),
    "str": lambda v: isinstance(v, str),
    "ints": lambda v: isinstance(v, (list, tuple)) and all(_KIND_CHECKS["int"](x) for x in v),
    "floats": lambda v: isinstance(v, (list, tuple)) and all(_KIND_CHECKS["float"](x) for x in v),
    "strs": lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
    "dense": lambda v: isinstance(v, Dense),
    "any": lambda v: True,
}


@dataclass(frozen=True)
class Attr:
    kind: str
    default: Any = REQUIRED
    choices: Optional[tuple] = None
    doc: str = ""

    def __post_init__(self):
        if self.kind not in _KIND_CHECKS:
            raise ValueError(f"unknown attribute kind {self.kind!r}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value) -> bool:
        if value is None and not self.required and self.default is None:
            return True
        if not _KIND_CHECKS[self.kind](value):
            return False
        return self.choices is None or value in self.choices


InferFn = Callable[[list, dict, list], Sequence[Type]]


@dataclass
class OpDef:
    """Declaration of one op. `inputs` names the operands; a trailing `?` marks an
    optional one (may be absent or None), a leading `*` a variadic tail."""

    name: str
    inputs: tuple
    attrs: dict
    infer: InferFn
    reference: Callable
    num_outputs: int = 1  # -1: decided by inference (e.g. split)
    doc: str = ""
    torch: Optional[Callable] = None  # torch implementation, set by @torch_impl
    integer: bool = False  # works on integer storage of quantized operands (lowered ops)
    # attributes passes may add to any op (q.bits, q.range, origin, ...) are not schema-checked
    extra_attr_prefixes: tuple = field(default=("q.", "origin", "name", "onnx."))

    @property
    def min_inputs(self) -> int:
        return sum(1 for n in self.inputs if not n.endswith("?") and not n.startswith("*"))

    @property
    def max_inputs(self) -> Optional[int]:
        return None if any(n.startswith("*") for n in self.inputs) else len(self.inputs)

    def with_defaults(self, attrs: dict) -> dict:
        out = {k: a.default for k, a in self.attrs.items() if not a.required}
        out.update(attrs)
        return out

    def check_attrs(self, attrs: dict, where: str) -> None:
        for k, spec in self.attrs.items():
            if k not in attrs:
                if spec.required:
                    raise VerifyError(f"{where}: missing required attribute '{k}' ({spec.kind})")
                continue
            if not spec.check(attrs[k]):
                want = f"{spec.kind} in {list(spec.choices)}" if spec.choices else spec.kind
                raise VerifyError(f"{where}: attribute '{k}' = {attrs[k]!r} is not a valid {want}")
        for k in attrs:
            if k not in self.attrs and not k.startswith(self.extra_attr_prefixes):
                hint = difflib.get_close_matches(k, list(self.attrs), n=1)
                more = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {sorted(self.attrs)})"
                raise VerifyError(f"{where}: unknown attribute '{k}' for op '{self.name}'{more}")

    def check_arity(self, n: int, where: str) -> None:
        hi = self.max_inputs
        if n < self.min_inputs or (hi is not None and n > hi):
            want = f"{self.min_inputs}" + ("+" if hi is None else (f"..{hi}" if hi != self.min_inputs else ""))
            raise VerifyError(f"{where}: op '{self.name}' takes {want} inputs {list(self.inputs)}, got {n}")


_REGISTRY: dict[str, OpDef] = {}


def op(name: str, *, inputs: Sequence[str], attrs: Optional[dict] = None, infer: InferFn,
       num_outputs: int = 1, doc: str = "", integer: bool = False):
    """Register the decorated numpy function as the reference of op `name`.

    The reference is called as `fn(*arrays, **attrs)` (attrs with defaults filled) and
    returns one array, or a tuple of arrays for multi-output ops. `infer` is called as
    `infer(input_types, attrs, const_inputs)` and returns the list of output types;
    `const_inputs[i]` is the numpy value of input i when it is a constant, else None.
    `integer=True` marks a lowered op whose reference takes and returns the integer
    storage of quantized operands (executors then skip dequantize/quantize around it).
    """

    def deco(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"op '{name}' is registered twice")
        _REGISTRY[name] = OpDef(name, tuple(inputs), dict(attrs or {}), infer, fn, num_outputs,
                                doc or (fn.__doc__ or "").strip(), integer=integer)
        return fn

    return deco


def torch_impl(name: str):
    """Register the torch implementation of op `name` (called as `fn(*tensors, **attrs)`,
    differentiable) used by the torch executor. Declare it next to the op's reference."""

    def deco(fn: Callable) -> Callable:
        d = _REGISTRY.get(name)
        if d is None:
            raise ValueError(f"@torch_impl('{name}') before @op('{name}')")
        d.torch = fn
        return fn

    return deco


def is_opaque(name: str) -> bool:
    return name.startswith("onnx.")


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        hint = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        more = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        raise UnknownOpError(f"unknown op '{name}'{more}") from None


def has_op(name: str) -> bool:
    return name in _REGISTRY


def all_ops() -> dict:
    return dict(_REGISTRY)


def infer_types(name: str, input_types: list, attrs: dict, consts: Optional[list] = None) -> list:
    if is_opaque(name):
        raise VerifyError(f"opaque op '{name}' needs explicit output types")
    d = get_op(name)
    where = f"'{name}' node"
    d.check_arity(len(input_types), where)  # infer functions index operands and attributes blindly
    missing = next((k for k, spec in d.attrs.items() if spec.required and k not in attrs), None)
    if missing is not None:
        raise VerifyError(f"{where}: missing required attribute '{missing}' ({d.attrs[missing].kind})")
    consts = consts if consts is not None else [None] * len(input_types)
    out = d.infer(list(input_types), d.with_defaults(attrs), list(consts))
    return [out] if isinstance(out, Type) else list(out)


def run_reference(name: str, arrays: Sequence, attrs: dict, **extra) -> list:
    """Call op `name`'s numpy reference; `extra` (e.g. in_types/out_types for integer
    ops) is passed through as keyword arguments."""
    d = get_op(name)
    out = d.reference(*arrays, **{k: v for k, v in d.with_defaults(attrs).items() if k in d.attrs}, **extra)
    return list(out) if isinstance(out, (tuple, list)) else [out]
