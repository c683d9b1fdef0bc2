"""Minifloat codes: every code of every format against an independent decode, RNE, casts."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from qcompiler.ir.types import MinifloatType
from qcompiler.numerics.minifloat import (MinifloatFormat, decode, decode_table, dequantize, encode, format_of,
                                          positive_values, quantize, round_to_format)

# (name, exponent bits, mantissa bits, encoding, largest finite value)
FORMATS = [
    ("e4m3fn", 4, 3, "fn", 448.0),
    ("e5m2", 5, 2, "ieee", 57344.0),
    ("e3m2", 3, 2, "finite", 28.0),
    ("e2m3", 2, 3, "finite", 7.5),
    ("e2m1", 2, 1, "finite", 6.0),
    ("e4m3 short float", 4, 3, "finite", 480.0),
    ("e4m3 ieee", 4, 3, "ieee", 240.0),
    ("e3m2 ieee", 3, 2, "ieee", 14.0),
]
IDS = [f[0] for f in FORMATS]


def fmt_of(e, m, encoding):
    return MinifloatFormat(e, m, 2 ** (e - 1) - 1, encoding)


def reference_value(code: int, e: int, m: int, encoding: str) -> float:
    """Bit fields read one at a time with Python scalars (no shared code with the module)."""
    bias = 2 ** (e - 1) - 1
    sign = -1.0 if (code >> (e + m)) & 1 else 1.0
    exp_field = (code >> m) % (2 ** e)
    man_field = code % (2 ** m)
    top = exp_field == 2 ** e - 1
    if encoding == "ieee" and top:
        return sign * math.inf if man_field == 0 else math.nan
    if encoding == "fn" and top and man_field == 2 ** m - 1:
        return math.nan
    if exp_field == 0:
        return sign * math.ldexp(man_field, 1 - bias - m)
    return sign * math.ldexp(2 ** m + man_field, exp_field - bias - m)


@pytest.mark.parametrize("name,e,m,encoding,largest", FORMATS, ids=IDS)
def test_every_code_decodes_like_the_bit_fields(name, e, m, encoding, largest):
    fmt = fmt_of(e, m, encoding)
    table = decode_table(fmt)
    assert len(table) == 2 ** (1 + e + m)
    for code, value in enumerate(table):
        want = reference_value(code, e, m, encoding)
        assert (math.isnan(want) and math.isnan(value)) or value == want, (name, code, value, want)
    assert fmt.max_value == largest


@pytest.mark.parametrize("name,e,m,encoding,largest", FORMATS, ids=IDS)
def test_every_finite_code_round_trips(name, e, m, encoding, largest):
    fmt = fmt_of(e, m, encoding)
    table = decode_table(fmt)
    finite = np.flatnonzero(np.isfinite(table))
    assert np.array_equal(encode(table[finite], fmt), finite)  # -0 keeps its sign bit
    nan_codes = np.flatnonzero(np.isnan(table))
    assert len(nan_codes) == {"ieee": 2 * (2 ** m - 1), "fn": 2, "finite": 0}[encoding]


@pytest.mark.parametrize("name,e,m,encoding,largest", FORMATS, ids=IDS)
def test_ties_round_to_the_even_code_and_others_to_the_nearest(name, e, m, encoding, largest):
    fmt = fmt_of(e, m, encoding)
    values = positive_values(fmt)
    lower, upper = values[:-1], values[1:]
    mids = (lower + upper) / 2
    codes = np.arange(len(values))
    got = encode(mids, fmt)
    assert np.array_equal(got, np.where(codes[:-1] % 2 == 0, codes[:-1], codes[1:]))
    below = np.nextafter(mids.astype(np.float32), np.float32(0))
    above = np.nextafter(mids.astype(np.float32), np.float32(np.inf))
    assert np.array_equal(encode(below, fmt), codes[:-1])
    assert np.array_equal(encode(above, fmt), codes[1:])
    assert np.array_equal(encode(-above, fmt), codes[1:] | fmt.sign_bit)


@pytest.mark.parametrize("name,e,m,encoding,largest", FORMATS, ids=IDS)
def test_saturating_cast_clips_and_non_saturating_overflows(name, e, m, encoding, largest):
    fmt = fmt_of(e, m, encoding)
    big = np.array([largest * 4, -largest * 4, np.inf, -np.inf], np.float32)
    sat = decode(encode(big, fmt), fmt)
    inf = np.inf if encoding == "ieee" else largest  # ONNX keeps Inf in E5M2 even when saturating
    assert np.array_equal(sat, [largest, -largest, inf, -inf])
    if encoding == "finite":
        with pytest.raises(ValueError, match="without NaN/Inf cannot represent"):
            encode(big, fmt, saturate=False)
        with pytest.raises(ValueError, match="cannot represent NaN"):
            encode(np.array([np.nan], np.float32), fmt)
        return
    over = decode(encode(big, fmt, saturate=False), fmt)
    assert np.all(np.isinf(over)) if encoding == "ieee" else np.all(np.isnan(over))
    assert np.isnan(decode(encode(np.array([np.nan], np.float32), fmt), fmt)).all()


def test_subnormals_are_reached_and_underflow_goes_to_signed_zero():
    fmt = fmt_of(4, 3, "fn")
    smallest = 2.0 ** -9  # 0.001 x 2^-6
    assert decode(encode(np.float32([smallest, 3 * smallest, smallest / 2, -smallest / 4]), fmt), fmt).tolist() == \
        [smallest, 3 * smallest, 0.0, -0.0]
    assert np.signbit(decode(encode(np.float32([-smallest / 4]), fmt), fmt)).all()


ML_DTYPES = [("float8_e4m3fn", 4, 3, "fn", False), ("float8_e5m2", 5, 2, "ieee", False),
             ("float6_e3m2fn", 3, 2, "finite", True), ("float6_e2m3fn", 2, 3, "finite", True),
             ("float4_e2m1fn", 2, 1, "finite", True)]


@pytest.mark.parametrize("dtype,e,m,encoding,saturate", ML_DTYPES, ids=[d[0] for d in ML_DTYPES])
def test_casts_agree_with_ml_dtypes(dtype, e, m, encoding, saturate):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    fmt = fmt_of(e, m, encoding)
    values = positive_values(fmt)
    mids = (values[:-1] + values[1:]) / 2
    rng = np.random.default_rng(0)
    x = np.concatenate([values, mids, rng.standard_normal(4000) * fmt.max_value / 3,
                        np.nextafter(mids.astype(np.float32), np.float32(0)),
                        np.nextafter(mids.astype(np.float32), np.float32(np.inf)),
                        [fmt.max_value * 1.2]]).astype(np.float32)
    x = np.concatenate([x, -x])
    ours = decode(encode(x, fmt, saturate=saturate), fmt)
    theirs = x.astype(getattr(ml_dtypes, dtype)).astype(np.float32)
    assert np.array_equal(ours, theirs, equal_nan=True)
    numbers = ~np.isnan(theirs)
    assert np.array_equal(np.signbit(ours[numbers]), np.signbit(theirs[numbers]))


def test_scaled_quantize_per_channel():
    t = MinifloatType("e4m3", "f32", (2, 3), no_nan_inf=True, axis=0, scale=np.float32([0.5, 4.0]))
    x = np.float32([[1.0, 300.0, -0.3], [1.0, 1000.0, 3000.0]])
    codes = quantize(x, t)
    assert dequantize(codes, t).tolist() == [[1.0, 224.0, -0.3125], [1.0, 1024.0, 1792.0]]
    assert format_of(t).encoding == "fn"


finite_floats = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite_floats, min_size=1, max_size=20), st.sampled_from(FORMATS))
def test_rounding_is_idempotent_monotone_and_nearest(xs, spec):
    _, e, m, encoding, _ = spec
    fmt = fmt_of(e, m, encoding)
    x = np.sort(np.float32(xs))
    y = round_to_format(x, fmt)
    assert np.array_equal(round_to_format(y, fmt), y)
    assert np.all(np.diff(y) >= 0)
    values = positive_values(fmt)
    inside = np.abs(x) <= fmt.max_value
    nearest = np.abs(np.abs(x[inside])[:, None] - values[None, :]).min(axis=1)
    assert np.all(np.abs(np.abs(y[inside]) - np.abs(x[inside])) <= nearest)
