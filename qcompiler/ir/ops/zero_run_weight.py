"""zero_run_weight: a sparse quantized weight stored in zero-run code (numerics/zero_runs.py),
written by `zero-run-encode` after `lower` in place of the weight's dense constant.

Operands: `runs` and `values`, u8 byte arrays of packed fields: the run of each entry
in `index_bits` bits, its storage value in the result's storage width. Attributes: the
entry count, the base index, the weight's `shape` and `expressed` float type. The
result is the weight's storage integers under its declared QuantType (zero point 0,
so a stored 0 is a zero weight). A graph file then holds the encoded bytes only, and a
backend can see which weights are zero without scanning them.
"""
from __future__ import annotations

import numpy as np

from ...numerics.zero_runs import PACKED_WIDTHS, ZeroRunError, decode_zero_runs, unpack_code, unpack_fields
from ..errors import VerifyError
from ..registry import Attr, op
from ..types import QuantType, TensorType
from .infer import plain
from .quant_common import fmt_type

NAME = "zero_run_weight"
ATTRS = {
    "entries": Attr("int", doc="entries of the code (fillers included)"),
    "base": Attr("int", doc="flat position of the first nonzero (the size when there is none)"),
    "shape": Attr("ints", doc="the weight's shape"),
    "index_bits": Attr("int", 4, doc="bits of each run field"),
    "expressed": Attr("str", "f32", doc="the float type the weight stands for"),
}


def _infer(types, attrs, consts):
    for role, t in zip(("runs", "values"), types):
        if t is None or plain(t).dtype != "u8" or plain(t).rank != 1 or isinstance(t, QuantType):
            raise VerifyError(f"{NAME}: '{role}' must be packed bytes u8[n], got {fmt_type(t)}")
    if attrs["index_bits"] not in PACKED_WIDTHS:
        raise VerifyError(f"{NAME}: index_bits={attrs['index_bits']} must be one of {PACKED_WIDTHS}")
    entries, base, shape = attrs["entries"], attrs["base"], tuple(attrs["shape"])
    if entries < 0 or base < 0 or any(d < 1 for d in shape):
        raise VerifyError(f"{NAME}: entries={entries}, base={base} and shape {list(shape)} must be >= 0 (dims >= 1)")
    if isinstance(types[0].shape[0], int) and types[0].shape[0] * 8 < entries * attrs["index_bits"]:
        raise VerifyError(f"{NAME}: 'runs' holds {types[0].shape[0]} bytes, {entries} runs of "
                          f"{attrs['index_bits']} bits need {-(-entries * attrs['index_bits'] // 8)}")
    if consts[0] is not None and entries:
        size = int(np.prod(shape))
        last = base + int(np.sum(unpack_fields(consts[0], entries, attrs["index_bits"], False))) + entries - 1
        if last >= size:
            raise VerifyError(f"{NAME}: the code runs to flat position {last}, past the {size} elements of "
                              f"shape {list(shape)}")
    return [TensorType(attrs["expressed"], shape)]


@op(NAME, inputs=["runs", "values"], attrs=ATTRS, infer=_infer, integer=True)
def zero_run_weight(runs, values, entries, base, shape, index_bits=4, expressed="f32", *, in_types, out_types):
    """The weight's storage integers (int32 container), zeros filled in from the runs."""
    t = out_types[0]
    if not isinstance(t, QuantType) or t.bits not in PACKED_WIDTHS or t.storage == "b1":
        raise ZeroRunError(f"{NAME}: the result must be quantized with 2-, 4- or 8-bit storage (a zero is a "
                           f"storable value), got {fmt_type(t)}")
    if np.any(t.zero_point.array):
        raise ZeroRunError(f"{NAME}: the result's zero point must be 0 (a stored 0 is a zero weight), got "
                           f"{fmt_type(t)}")
    code = unpack_code(np.asarray(runs), np.asarray(values), entries, base, tuple(shape), index_bits, t.bits,
                       t.signed)
    return decode_zero_runs(code).astype(np.int32)
