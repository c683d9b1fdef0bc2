"""IR types: plain tensors and quantized tensors whose type carries every parameter.

A backend reads everything it needs from a value's type: storage width, scale, zero
point, axis, group size, minifloat format or codebook layout. No side dictionaries.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Union

import numpy as np

from .dense import Dense

Dim = Union[int, str]  # a str dim is symbolic (dynamic), e.g. "N" or "batch"
Shape = tuple

# dtype name -> numpy dtype for the dtypes that exist as real arrays
FLOAT_DTYPES = {"f64": np.float64, "f32": np.float32, "f16": np.float16}
INT_DTYPES = {"i64": np.int64, "i32": np.int32, "i16": np.int16, "i8": np.int8, "u8": np.uint8}
NUMPY_DTYPES = {**FLOAT_DTYPES, **INT_DTYPES, "bool": np.bool_}
# bf16 exists in models but numpy has no bf16: values of that dtype run as f32
DTYPES = set(NUMPY_DTYPES) | {"bf16"}

# storage types of QuantType: name -> (qmin, qmax)
STORAGE_RANGES = {
    "i32": (-(2**31), 2**31 - 1),
    "i16": (-(2**15), 2**15 - 1),
    "i8": (-128, 127), "u8": (0, 255),
    "i4": (-8, 7), "u4": (0, 15),
    "i2": (-2, 1), "u2": (0, 3),
    "b1": (-1, 1),  # binary: values are exactly -1 or +1 (sign), never 0
}
STORAGE_BITS = {"i32": 32, "i16": 16, "i8": 8, "u8": 8, "i4": 4, "u4": 4, "i2": 2, "u2": 2, "b1": 1}

# minifloat formats: name -> (exponent bits, mantissa bits)
MINIFLOAT_FORMATS = {"e4m3": (4, 3), "e5m2": (5, 2), "e3m2": (3, 2), "e2m3": (2, 3), "e2m1": (2, 1), "e3m4": (3, 4)}


def numpy_dtype(dtype: str) -> np.dtype:
    if dtype == "bf16":
        return np.dtype(np.float32)
    try:
        return np.dtype(NUMPY_DTYPES[dtype])
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}") from None


def dtype_of_numpy(dt) -> str:
    dt = np.dtype(dt)
    for name, np_dt in NUMPY_DTYPES.items():
        if np.dtype(np_dt) == dt:
            return name
    raise ValueError(f"numpy dtype {dt} has no IR dtype")


def _shape(shape) -> Shape:
    out = []
    for d in shape:
        if isinstance(d, (int, np.integer)):
            if d < 0:
                raise ValueError(f"negative dimension {d} in shape {tuple(shape)}")
            out.append(int(d))
        elif isinstance(d, str) and d:
            out.append(d)
        else:
            raise ValueError(f"bad dimension {d!r} in shape {tuple(shape)}")
    return tuple(out)


class Type:
    """Base of all value types. Every type has a `shape` and an `expressed` dtype (what
    the value means in floating point; for plain tensors it is the dtype itself)."""

    shape: Shape

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def numel(self) -> Optional[int]:
        return int(np.prod(self.shape, dtype=np.int64)) if self.is_static else None

    def with_shape(self, shape) -> "Type":
        return replace(self, shape=_shape(shape))


@dataclass(frozen=True)
class TensorType(Type):
    dtype: str
    shape: Shape = ()

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {sorted(DTYPES)}")
        object.__setattr__(self, "shape", _shape(self.shape))

    @property
    def expressed(self) -> str:
        return self.dtype


def _as_dense(x, dtype) -> Dense:
    if isinstance(x, Dense):
        return x
    return Dense(np.asarray(x, dtype=dtype))


@dataclass(frozen=True)
class QuantType(Type):
    """Affine integer quantization: real = (q - zero_point) * scale.

    Per-tensor when `axis` is None; per-channel along `axis` otherwise; per-group when
    `group` is also set (blocks of `group` elements along `axis`, scale shape is the
    value shape with that axis divided by `group`).
    """

    storage: str
    expressed: str
    shape: Shape
    scale: Dense
    zero_point: Dense
    axis: Optional[int] = None
    group: Optional[int] = None

    def __post_init__(self):
        if self.storage not in STORAGE_RANGES:
            raise ValueError(f"unknown storage type {self.storage!r}; expected one of {sorted(STORAGE_RANGES)}")
        if self.expressed not in FLOAT_DTYPES and self.expressed != "bf16":
            raise ValueError(f"quantized expressed type must be a float dtype, got {self.expressed!r}")
        object.__setattr__(self, "shape", _shape(self.shape))
        object.__setattr__(self, "scale", _as_dense(self.scale, np.float32))
        object.__setattr__(self, "zero_point", _as_dense(self.zero_point, np.int32))

    @property
    def bits(self) -> int:
        return STORAGE_BITS[self.storage]

    @property
    def qmin(self) -> int:
        return STORAGE_RANGES[self.storage][0]

    @property
    def qmax(self) -> int:
        return STORAGE_RANGES[self.storage][1]

    @property
    def signed(self) -> bool:
        return self.qmin < 0

    @property
    def granularity(self) -> str:
        if self.axis is None:
            return "tensor"
        return "channel" if self.group is None else f"group:{self.group}"


@dataclass(frozen=True)
class MinifloatType(Type):
    """A low-precision float: `format` names exponent/mantissa bits (e4m3, e5m2, ...).

    `bias` defaults to the IEEE-style 2^(e-1)-1. The top exponent holds Inf/NaN unless
    `no_nan_inf` reclaims it for finite values: with one NaN code left (all ones, FP8
    E4M3 "fn"), or with every code finite when `finite` is also set (the OCP 6/4-bit
    formats, short floats without NaN/Inf). real = value(code) * scale; `scale` is a
    float per tensor, or a Dense per channel along `axis`.
    """

    format: str
    expressed: str
    shape: Shape
    bias: Optional[int] = None
    no_nan_inf: bool = False
    scale: Union[float, Dense] = 1.0
    finite: bool = False
    axis: Optional[int] = None

    def __post_init__(self):
        if self.format not in MINIFLOAT_FORMATS:
            raise ValueError(f"unknown minifloat format {self.format!r}; expected one of {sorted(MINIFLOAT_FORMATS)}")
        object.__setattr__(self, "shape", _shape(self.shape))
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (self.exponent_bits - 1) - 1)
        if self.finite:
            object.__setattr__(self, "no_nan_inf", True)
        if self.axis is None:
            object.__setattr__(self, "scale", float(np.asarray(getattr(self.scale, "array", self.scale))))
        else:
            object.__setattr__(self, "scale", _as_dense(self.scale, np.float32))

    @property
    def scale_array(self) -> np.ndarray:
        """The scale as an array: 0-d per tensor, one per channel along `axis`."""
        return np.asarray(self.scale.array if isinstance(self.scale, Dense) else self.scale, np.float32)

    @property
    def exponent_bits(self) -> int:
        return MINIFLOAT_FORMATS[self.format][0]

    @property
    def mantissa_bits(self) -> int:
        return MINIFLOAT_FORMATS[self.format][1]

    @property
    def bits(self) -> int:
        return 1 + self.exponent_bits + self.mantissa_bits


@dataclass(frozen=True)
class CodebookType(Type):
    """A weight whose k×k kernels are indices into a learned codebook of kernels.

    `codebook_bits` is the precision of the codebook entries, `index_bits` the width of
    each kernel's index (2**index_bits codewords), `kernel_shape` the (kh, kw) of one
    codeword. The shape is the shape of the weight it stands for.
    """

    codebook_bits: int
    index_bits: int
    kernel_shape: tuple
    expressed: str
    shape: Shape

    def __post_init__(self):
        object.__setattr__(self, "shape", _shape(self.shape))
        object.__setattr__(self, "kernel_shape", tuple(int(k) for k in self.kernel_shape))
        if not 1 <= self.index_bits <= 16:
            raise ValueError(f"codebook index_bits must be in 1..16, got {self.index_bits}")
        if not 1 <= self.codebook_bits <= 32:
            raise ValueError(f"codebook_bits must be in 1..32, got {self.codebook_bits}")

    @property
    def num_codewords(self) -> int:
        return 2 ** self.index_bits


def is_float(t: Type) -> bool:
    return isinstance(t, TensorType) and (t.dtype in FLOAT_DTYPES or t.dtype == "bf16")


def is_quantized(t: Type) -> bool:
    return isinstance(t, (QuantType, MinifloatType, CodebookType))


def tensor_type_of(array: np.ndarray) -> TensorType:
    return TensorType(dtype_of_numpy(array.dtype), array.shape)


def f32(*shape) -> TensorType:
    return TensorType("f32", shape)
