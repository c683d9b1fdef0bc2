"""Calibration data, in the forms users have it, as a stream of validated batches.

Accepted (`PassContext.calibration`):
- one array / torch tensor holding every sample along dim 0 (single-input graphs),
  or a dict of input name -> such array: split into batches of `batch` samples (of the
  input's static batch size if it has one; a trailing partial batch is then dropped);
- a list/tuple or any iterable (a torch DataLoader, a generator) of batches, each an
  array (single input), a tuple/list whose first elements are the inputs in graph order
  (so DataLoader `(x, y)` pairs work), or a dict by input name. An array one rank short
  of the input counts as a single sample.
Every batch is checked against the graph inputs (count, dtype kind, rank, static dims,
finite floats) and cast to the input dtype.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Iterator, Optional

import numpy as np

from qcompiler.ir.core import Graph, Value
from qcompiler.ir.types import numpy_dtype

from .errors import CalibrationError

ACCEPTED = ("an array or tensor of samples, a list of batches, a dict of input name -> array, "
            "or a DataLoader")
NEEDS_DATA = f"calibrate needs calibration data: pass calibration=... ({ACCEPTED})"


def calibration_batches(data, graph: Graph, *, samples: Optional[int] = None,
                        batch: int = 32) -> tuple[Iterator[dict], Optional[int]]:
    """(batches as dicts input name -> array, number of batches if known)."""
    if data is None:
        raise CalibrationError(NEEDS_DATA)
    if hasattr(data, "calibration_arrays"):  # a lazy source (passes/datafree: synthetic data) made on first use
        data = data.calibration_arrays(graph)
    if not graph.inputs:
        raise CalibrationError(f"graph @{graph.name} has no inputs to feed calibration data to")
    if _is_array(data) or (isinstance(data, Mapping) and all(_is_array(a) for a in data.values())):
        whole = data if isinstance(data, Mapping) else _single_input(graph, data, "the calibration array")
        items, total = _split(whole, graph, batch, samples)
    elif isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise CalibrationError(f"calibration data of type {type(data).__name__} is not supported; give {ACCEPTED}")
    else:
        items = (_as_dict(item, graph, k) for k, item in enumerate(data))
        total = len(data) if hasattr(data, "__len__") else None
    checked = (_checked(arrays, graph, k) for k, arrays in enumerate(items))
    return _limited(checked, graph, samples), total


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or hasattr(x, "detach")


def _numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)


def _single_input(graph: Graph, array, what: str) -> dict:
    if len(graph.inputs) != 1:
        names = ", ".join("%" + v.name for v in graph.inputs)
        raise CalibrationError(f"{what} feeds one input, but graph @{graph.name} has {len(graph.inputs)} "
                               f"({names}): give a dict of input name -> array, or batches of {len(graph.inputs)}-tuples")
    return {graph.inputs[0].name: array}


def _split(whole: Mapping, graph: Graph, batch: int, samples: Optional[int]):
    arrays = {name: _numpy(a) for name, a in _by_input(whole, graph, "the calibration dict").items()}
    scalars = [name for name, a in arrays.items() if a.ndim == 0]
    if scalars:
        raise CalibrationError(f"calibration data for %{scalars[0]} is a single number; expected samples "
                               f"stacked along dim 0")
    counts = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(counts.values())) > 1:
        raise CalibrationError(f"calibration arrays hold different numbers of samples along dim 0: {counts}")
    count = min(next(iter(counts.values())), samples or math.inf)
    static = graph.inputs[0].type.shape[0] if graph.inputs[0].type.shape else 1
    size = static if isinstance(static, int) else batch
    if isinstance(static, int) and count < size:
        raise CalibrationError(f"input %{graph.inputs[0].name} takes batches of {size} samples "
                               f"(shape {list(graph.inputs[0].type.shape)}), calibration data has {count}")
    starts = range(0, count - size + 1 if isinstance(static, int) else count, size)
    chunks = ({name: a[s:min(s + size, count)] for name, a in arrays.items()} for s in starts)
    return chunks, len(starts)


def _by_input(mapping: Mapping, graph: Graph, what: str) -> dict:
    names = [v.name for v in graph.inputs]
    missing = [n for n in names if n not in mapping]
    extra = [k for k in mapping if k not in names]
    if missing or extra:
        raise CalibrationError(f"{what} does not match the inputs of graph @{graph.name} "
                               f"({', '.join('%' + n for n in names)}): missing {missing}, unknown {extra}")
    return {n: mapping[n] for n in names}


def _as_dict(item, graph: Graph, k: int) -> dict:
    n = len(graph.inputs)
    if isinstance(item, Mapping):
        return _by_input(item, graph, f"calibration batch {k}")
    if isinstance(item, (tuple, list)):
        if len(item) < n:
            raise CalibrationError(f"calibration batch {k} has {len(item)} elements, graph @{graph.name} "
                                   f"takes {n} inputs ({', '.join('%' + v.name for v in graph.inputs)})")
        return {v.name: a for v, a in zip(graph.inputs, item)}
    if _is_array(item):
        return _single_input(graph, item, f"calibration batch {k}")
    raise CalibrationError(f"calibration batch {k} is a {type(item).__name__}; expected an array, "
                           "a tuple/list of arrays or a dict of input name -> array")


def _checked(arrays: dict, graph: Graph, k: int) -> dict:
    return {v.name: _check_input(_numpy(arrays[v.name]), v, k) for v in graph.inputs}


def _check_input(a: np.ndarray, v: Value, k: int) -> np.ndarray:
    want, dtype = v.type.shape, numpy_dtype(v.type.expressed)
    where = f"calibration data for input %{v.name} (batch {k})"
    if a.dtype.kind not in ("f" if dtype.kind == "f" else "iub"):
        raise CalibrationError(f"{where} has dtype {a.dtype}, expected {v.type.expressed}")
    if a.ndim == len(want) - 1 and (want[0] == 1 or isinstance(want[0], str)):
        a = a[None]  # one sample without its batch dimension
    if a.ndim != len(want) or any(isinstance(d, int) and d != s for d, s in zip(want, a.shape)):
        raise CalibrationError(f"{where} has shape {list(a.shape)}, expected {list(want)}"
                               + (" (symbolic dims take any size)" if any(isinstance(d, str) for d in want) else ""))
    with np.errstate(over="ignore"):  # float64 beyond the input's float range: reported below
        cast = a.astype(dtype, copy=False)
    if dtype.kind == "f" and not np.isfinite(cast).all():
        bad = "NaN" if np.isnan(a).any() else "Inf" if not np.isfinite(a).all() else (
            f"values beyond the range of {v.type.expressed} (largest magnitude {np.abs(a).max():.3g})")
        raise CalibrationError(f"{where} contains {bad}" + (" values" if bad in ("NaN", "Inf") else ""))
    return cast


def _limited(batches: Iterator[dict], graph: Graph, samples: Optional[int]) -> Iterator[dict]:
    """Stop after `samples` samples, cutting the last batch when the batch dim is free."""
    seen = 0
    shapes = [v.type.shape for v in graph.inputs]
    free_batch = all(s and isinstance(s[0], str) for s in shapes)
    for arrays in batches:
        first = arrays[graph.inputs[0].name]
        n = first.shape[0] if first.ndim else 1
        if samples is not None and free_batch and seen + n > samples:
            arrays = {name: a[:samples - seen] for name, a in arrays.items()}
            n = samples - seen
        yield arrays
        seen += n
        if samples is not None and seen >= samples:
            break
    if seen == 0:
        raise CalibrationError("calibration data is empty: " + NEEDS_DATA)


class MemoryBoundBatches:
    """Cuts batches along dim 0 into chunks whose live activations stay within `budget`
    bytes. The cost of a sample is learnt as the run goes: the first chunk is one sample,
    later chunks hold as many as the costliest sample seen so far (per byte of
    `peak_bytes` reported to `record`) allows. Observers are streaming, so chunking
    changes no result. Graphs with a static batch dim run their batches as given."""

    def __init__(self, graph: Graph, budget: int):
        self.budget = budget
        self.free_batch = all(v.type.shape and isinstance(v.type.shape[0], str) for v in graph.inputs)
        self.bytes_per_sample = 0.0

    @property
    def chunk(self) -> int:
        if self.bytes_per_sample == 0.0:
            return 1
        return max(1, int(self.budget // self.bytes_per_sample))

    def _samples(self, arrays: dict) -> int:
        """Samples of a batch, as chunks count them (a static batch is one indivisible chunk)."""
        return next(iter(arrays.values())).shape[0] if self.free_batch else 1

    def split(self, arrays: dict) -> Iterator[dict]:
        count = self._samples(arrays)
        start = 0
        while start < count:
            stop = min(start + self.chunk, count)
            yield {name: a[start:stop] for name, a in arrays.items()} if self.free_batch else arrays
            start = stop

    def record(self, arrays: dict, peak_bytes: int) -> None:
        """Account a chunk that held `peak_bytes` of activations at most."""
        self.bytes_per_sample = max(self.bytes_per_sample, peak_bytes / max(self._samples(arrays), 1))
