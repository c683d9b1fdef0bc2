"""The float ops a lowered transformer keeps in float32 (softmax, masked_softmax,
layer_norm, gelu) on Numba kernels instead of their numpy references: the reduced axis is
moved last and the rows run in parallel when there are enough of them (kernels/float_rows.py).
Other dtypes (and any other op) stay on the reference fallback.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir.core import Node
from qcompiler.ir.types import TensorType

from ..kernels.float_rows import (gelu_flat, gelu_flat_parallel, layer_norm_rows, layer_norm_rows_parallel,
                                  masked_softmax_rows, masked_softmax_rows_parallel)
from .common import Step, attrs_of
from .serial_or_parallel import ROW_ELEMENT_MACS, run_rows

FLOAT_ROW_OPS = ("softmax", "masked_softmax", "layer_norm", "gelu")


def prepare_float_rows(node: Node) -> Optional[Step]:
    if node.op not in FLOAT_ROW_OPS or not node.inputs or not _f32(node.inputs[0]) or not _f32(node.outputs[0]):
        return None
    attrs = attrs_of(node)
    if node.op == "gelu":
        tanh_form = attrs["approximate"] == "tanh"
        return lambda args: [_gelu(args[0], tanh_form)]
    if node.op == "layer_norm":
        return lambda args: [_layer_norm(args[0], args[1] if len(args) > 1 else None,
                                         args[2] if len(args) > 2 else None, attrs["axis"], attrs["eps"])]
    fill = np.float32(attrs.get("fill", -np.inf))
    zero_empty = bool(attrs.get("zero_empty_rows", False))
    return lambda args: [_softmax(args[0], args[1] if node.op == "masked_softmax" else None, attrs["axis"],
                                  fill, zero_empty)]


def _f32(v) -> bool:
    return v is not None and type(v.type) is TensorType and v.type.dtype == "f32"


def _softmax(x, keep, axis: int, fill, zero_empty_rows: bool) -> np.ndarray:
    x = np.asarray(x, np.float32)
    shape = np.broadcast_shapes(x.shape, np.shape(keep)) if keep is not None else x.shape
    axis = axis % len(shape)
    rows = _as_rows(np.broadcast_to(x, shape), axis)
    mask = _as_rows(np.broadcast_to(np.asarray(keep, bool), shape), axis) if keep is not None else \
        np.ones((1, 1), bool)
    out = np.empty_like(rows)
    run_rows(masked_softmax_rows, masked_softmax_rows_parallel, len(rows), rows.size * ROW_ELEMENT_MACS, rows, mask,
             keep is not None, fill, zero_empty_rows, out)
    return np.moveaxis(out.reshape(_moved(shape, axis)), -1, axis)


def _layer_norm(x, weight, bias, axis: int, eps: float) -> np.ndarray:
    x = np.asarray(x, np.float32)
    axis = axis % x.ndim
    width = int(np.prod(x.shape[axis:]))
    normalized = x.shape[axis:]
    w = np.ones(width, np.float32) if weight is None else _flat(weight, normalized)
    b = np.zeros(width, np.float32) if bias is None else _flat(bias, normalized)
    rows = np.ascontiguousarray(x.reshape(-1, width))
    out = np.empty_like(rows)
    run_rows(layer_norm_rows, layer_norm_rows_parallel, len(rows), rows.size * ROW_ELEMENT_MACS, rows, w, b,
             np.float32(eps), out)
    return out.reshape(x.shape)


def _gelu(x, tanh_form: bool) -> np.ndarray:
    flat = np.ascontiguousarray(x, np.float32).reshape(-1)
    out = np.empty_like(flat)
    run_rows(gelu_flat, gelu_flat_parallel, flat.size, flat.size * ROW_ELEMENT_MACS, flat, tanh_form, out)
    return out.reshape(np.shape(x))


def _as_rows(a: np.ndarray, axis: int) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, axis, -1)).reshape(-1, a.shape[axis])


def _moved(shape: tuple, axis: int) -> tuple:
    return tuple(d for i, d in enumerate(shape) if i != axis) + (shape[axis],)


def _flat(p, normalized: tuple) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(p, np.float32), normalized)).reshape(-1)
