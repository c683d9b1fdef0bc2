"""Emitter tables: which function writes an IR op as ONNX nodes, per export form.

An emitter is `fn(ctx, node) -> list of ONNX values` (one per IR result) or None to let
the next table of the form try. What a returned value holds depends on the table:

- `real` tables return the op's float results as computed (a quantized result is then
  rounded to its type by the exporter with a QuantizeLinear, as the reference
  interpreter does);
- `storage` tables return the integer storage of quantized results;
- `typed` tables return storage for quantized results and real values for float ones.
"""
from __future__ import annotations

from typing import Callable, Optional


class Table:
    def __init__(self, name: str, results: str):
        self.name = name
        self.results = results
        self.emitters: dict[str, Callable] = {}

    def register(self, *ops: str):
        def deco(fn):
            for op in ops:
                if op in self.emitters:
                    raise ValueError(f"op '{op}' has two emitters in table '{self.name}'")
                self.emitters[op] = fn
            return fn

        return deco

    def get(self, op: str) -> Optional[Callable]:
        return self.emitters.get(op)


FLOAT = Table("float", "real")                  # catalog float ops (docs/ops.md)
CONVERSIONS = Table("conversions", "typed")     # quantize / dequantize / requantize
STORAGE = Table("storage", "storage")           # ops that move stored integers unchanged
QOPERATOR = Table("qoperator", "typed")         # integer ops as QLinear* operators
INTEGER = Table("integer", "typed")             # integer ops spelled out exactly

FORMS = {
    "float": (FLOAT,),
    "qdq": (CONVERSIONS, FLOAT),
    # what ONNX Runtime's quantized operators cannot take (16-bit intermediates, mixed
    # storage types, table lookups) falls back to the exact integer spelling
    "qoperator": (CONVERSIONS, QOPERATOR, INTEGER, STORAGE, FLOAT),
    "integer": (CONVERSIONS, INTEGER, STORAGE, FLOAT),
}

# what each form exports, for error messages
FORM_INPUTS = {
    "float": "a float graph",
    "qdq": "the fake-quant graph (after `quantize`)",
    "qoperator": "the lowered graph (after `lower`)",
    "integer": "the lowered graph (after `lower`)",
}
