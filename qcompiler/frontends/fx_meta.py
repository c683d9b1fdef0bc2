"""What torch computes for each fx node on the example inputs (shapes, dtypes, Python
values), and torch dtypes as IR dtypes."""
from __future__ import annotations

from typing import Optional

import torch
import torch.fx as fx
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from ..ir.core import Value
from ..ir.errors import FrontendError
from ..ir.ops.infer import plain

_IR_DTYPES = {torch.float32: "f32", torch.float64: "f64", torch.float16: "f16", torch.bfloat16: "bf16",
              torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8", torch.uint8: "u8",
              torch.bool: "bool"}
_TORCH_DTYPES = {v: k for k, v in _IR_DTYPES.items()}


def ir_dtype(dtype: torch.dtype) -> str:
    try:
        return _IR_DTYPES[dtype]
    except KeyError:
        raise FrontendError(f"tensors of dtype {dtype} have no IR dtype") from None


def torch_dtype(dtype: str) -> torch.dtype:
    return _TORCH_DTYPES[dtype]


def batch_symbols(symbols: list) -> set:
    """Symbols that only ever name dim 0 of an input: batches, which samples scale linearly."""
    named = {s for axes in symbols for s in axes.values()}
    return named - {s for axes in symbols for a, s in axes.items() if a != 0}


def grown(size: int, symbol: str, batches: set) -> int:
    """The size a dynamic dim takes in its shape run: a batch grows by one sample, any
    other dim doubles (which keeps it divisible by the model's strides)."""
    return size + 1 if symbol in batches else 2 * size


def propagate(gm: fx.GraphModule, examples: tuple, symbols: list) -> None:
    """Record torch's results on every node. For each symbol of `symbols` ({axis: symbol}
    per input), first also with the dims it names grown (`grown`; the results go to
    `meta["qc_grown"][symbol]`), which tells static dims from dynamic ones (`refine`)."""
    for symbol in dict.fromkeys(s for axes in symbols for s in axes.values()):
        inputs = grown_inputs(examples, symbols, symbol)
        try:
            RecordingShapeProp(gm).propagate(*inputs)
        except Exception as e:
            sizes = ", ".join(f"{list(x.shape)}" for x in inputs)
            raise FrontendError(f"dim '{symbol}' is dynamic, but the model fails when it grows (inputs {sizes}): "
                                f"{type(e).__name__}: {e}") from None
        for n in gm.graph.nodes:
            n.meta.setdefault("qc_grown", {})[symbol] = n.meta.get("tensor_meta")
    RecordingShapeProp(gm).propagate(*(x.clone() for x in examples))


def grown_inputs(examples: tuple, symbols: list, symbol: str) -> tuple:
    """The examples with the dims `symbol` names grown (`grown`)."""
    batches = batch_symbols(symbols)
    return tuple(_grow(x, [a for a, s in axes.items() if s == symbol], symbol, batches)
                 for x, axes in zip(examples, symbols))


def _grow(x: torch.Tensor, axes: list, symbol: str, batches: set) -> torch.Tensor:
    for a in axes:
        x = torch.cat([x, x.narrow(a, 0, grown(x.shape[a], symbol, batches) - x.shape[a])], dim=a)
    return x.clone()


def refine(result, meta, runs: dict, sizes: dict, batches: set) -> None:
    """Fill in the dims of `result`'s types that inference left unknown (after a reshape
    to a computed shape) from torch's runs: `runs` maps each symbol to the metadata of
    the run where it grew, `sizes` to its size in the examples. A dim no run changes is
    static; one that follows a batch symbol as it grows is named by it; any other
    dynamic dim stays unknown, since spatial arithmetic (strides, rounding) can match a
    size at two points and differ at others (2·⌈W/2⌉ is W only for even W)."""
    if isinstance(result, Value) and isinstance(meta, TensorMetadata):
        shapes = {s: m.shape for s, m in runs.items() if isinstance(m, TensorMetadata)}
        shape = [_refined(d, i, meta.shape[i], shapes, sizes, batches) for i, d in enumerate(result.type.shape)]
        result.type = result.type.with_shape(shape)
    elif isinstance(result, (list, tuple)) and isinstance(meta, (list, tuple)):
        for i, (r, m) in enumerate(zip(result, meta)):
            refine(r, m, {s: g[i] for s, g in runs.items() if isinstance(g, (list, tuple)) and i < len(g)}, sizes,
                   batches)


def _refined(dim, axis: int, size: int, shapes: dict, sizes: dict, batches: set):
    if isinstance(dim, int) or dim in sizes or len(shapes) != len(sizes):
        return dim
    changed = [s for s, shape in shapes.items() if axis < len(shape) and shape[axis] != size]
    if not changed:
        return int(size)
    (s, *others) = changed
    if not others and s in batches and (size, shapes[s][axis]) == (sizes[s], grown(sizes[s], s, batches)):
        return s
    return dim


class RecordingShapeProp(ShapeProp):
    """ShapeProp that also keeps the Python values (sizes, flags, dtypes) nodes produce."""

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        if not isinstance(result, torch.Tensor):
            n.meta["qc_value"] = result
        return result


def first_mismatch(meta, result) -> Optional[str]:
    """How an importer result (IR values, nested in lists) differs from torch's results
    (TensorMetadata), or None. Symbolic dims match any size."""
    if isinstance(result, Value) and isinstance(meta, TensorMetadata):
        t, want = plain(result.type), list(meta.shape)
        same = len(t.shape) == len(want) and all(isinstance(a, str) or a == b for a, b in zip(t.shape, want))
        if t.dtype != ir_dtype(meta.dtype) or not same:
            return f"built {t.dtype}{list(t.shape)} where torch computes {ir_dtype(meta.dtype)}{want}"
    elif isinstance(result, (list, tuple)) and isinstance(meta, (list, tuple)) and len(result) == len(meta):
        for r, m in zip(result, meta):
            mismatch = first_mismatch(m, r)
            if mismatch:
                return mismatch
    return None
