"""Base-index + zero-run-length coding: exact round trips, the byte count, and the stored
form (packed fields) giving back the same code."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from qcompiler.numerics.zero_runs import (ZeroRunError, decode_zero_runs, encode_zero_runs, pack_code, pack_fields,
                                          sparse_encoding_bytes, unpack_code, unpack_fields)


@st.composite
def sparse_arrays(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=40))
    dtype = draw(st.sampled_from([np.int8, np.float32]))
    values = draw(hnp.arrays(dtype, shape, elements=st.integers(-128, 127) if dtype == np.int8
                             else st.floats(-4, 4, width=32)))
    density = draw(st.floats(0.0, 1.0))
    seed = draw(st.integers(0, 2 ** 16))
    keep = np.random.default_rng(seed).random(shape) < density
    return np.where(keep, values, np.zeros((), dtype))


@settings(max_examples=100, deadline=None)
@given(sparse_arrays(), st.integers(1, 6))
def test_decode_inverts_encode(w, index_bits):
    code = encode_zero_runs(w, index_bits)
    out = decode_zero_runs(code)
    assert out.dtype == w.dtype and out.shape == w.shape
    assert np.array_equal(out, w)
    assert code.runs.size == 0 or code.runs.max() < 2 ** index_bits
    fillers = code.values == 0  # a stored value is zero only in a filler, whose run is full
    assert np.all(code.runs[fillers] == 2 ** index_bits - 1)
    assert code.entries - np.count_nonzero(fillers) == np.count_nonzero(w)


@settings(max_examples=100, deadline=None)
@given(sparse_arrays(), st.integers(1, 6), st.integers(1, 16))
def test_byte_count_matches_the_encoded_length(w, index_bits, value_bits):
    code = encode_zero_runs(w, index_bits)
    assert sparse_encoding_bytes(w, index_bits, value_bits) == code.nbytes(value_bits)
    assert code.nbytes(value_bits) == 4 + math.ceil(code.entries * (index_bits + value_bits) / 8)


def test_a_long_gap_takes_filler_entries():
    w = np.zeros(40, np.int8)
    w[[2, 23, 24]] = [5, 7, -1]  # gap of 20 zeros: one filler (15 zeros + its own) then a run of 4
    code = encode_zero_runs(w, index_bits=4)
    assert code.base == 2
    assert code.runs.tolist() == [0, 15, 4, 0] and code.values.tolist() == [5, 0, 7, -1]
    assert sparse_encoding_bytes(w, 4, 8) == 4 + 6  # 4 entries of 12 bits
    assert np.array_equal(decode_zero_runs(code), w)


def test_all_zero_weights_cost_the_base_index_only():
    w = np.zeros((3, 5), np.float32)
    code = encode_zero_runs(w)
    assert code.entries == 0 and code.base == 15 and sparse_encoding_bytes(w) == 4
    assert np.array_equal(decode_zero_runs(code), w)


def test_sparse_weights_shrink_dense_ones_grow():
    rng = np.random.default_rng(0)
    dense = rng.integers(1, 100, 1000).astype(np.int8)
    sparse = np.where(rng.random(1000) < 0.1, dense, 0).astype(np.int8)
    assert sparse_encoding_bytes(sparse) < 1000 * 0.2
    assert sparse_encoding_bytes(dense) > 1000


def test_bad_widths_are_named():
    with pytest.raises(ZeroRunError, match="index_bits=0"):
        encode_zero_runs(np.ones(3), index_bits=0)
    with pytest.raises(ZeroRunError, match="value_bits=0"):
        sparse_encoding_bytes(np.ones(3), value_bits=0)


@settings(max_examples=60, deadline=None)
@given(sparse_arrays(), st.sampled_from([1, 2, 4, 8]), st.sampled_from([2, 4, 8]))
def test_the_stored_form_gives_back_the_code_in_the_bytes_counted(w, index_bits, value_bits):
    ints = np.clip(np.rint(w), -(2 ** (value_bits - 1)), 2 ** (value_bits - 1) - 1).astype(np.int64)
    code = encode_zero_runs(ints, index_bits)
    runs, values = pack_code(code, value_bits)
    assert runs.dtype == values.dtype == np.uint8
    assert runs.size == -(-code.entries * index_bits // 8) and values.size == -(-code.entries * value_bits // 8)
    back = unpack_code(runs, values, code.entries, code.base, ints.shape, index_bits, value_bits, signed=True)
    assert np.array_equal(decode_zero_runs(back), ints)


def test_fields_pack_low_field_first_and_sign_extend():
    assert pack_fields(np.array([1, -1, 0, -2]), 2).tolist() == [0b10_00_11_01]
    assert unpack_fields(np.array([0b10_00_11_01], np.uint8), 4, 2, signed=True).tolist() == [1, -1, 0, -2]
    assert unpack_fields(np.array([0b10_00_11_01], np.uint8), 4, 2, signed=False).tolist() == [1, 3, 0, 2]


def test_a_short_or_overrunning_stored_code_is_refused():
    with pytest.raises(ZeroRunError, match="need 2 bytes"):
        unpack_fields(np.zeros(1, np.uint8), 3, 4, signed=False)
    code = unpack_code(np.array([0xFF], np.uint8), np.array([1, 1], np.uint8), 2, 0, (10,), 4, 8, signed=True)
    with pytest.raises(ZeroRunError, match="overruns its shape"):
        decode_zero_runs(code)
    with pytest.raises(ZeroRunError, match="not 3"):
        pack_fields(np.zeros(2, np.int64), 3)
