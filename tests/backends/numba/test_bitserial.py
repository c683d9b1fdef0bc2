"""Bit-serial kernels for b1/i2/u2 weights: bit planes, qconv2d/qconv1d/qlinear equal to the
reference integer for integer (random shapes, strides, pads, groups, 2-8-bit activations),
the fallback when int32 is not proven, and a 2-bit digits CNN end to end."""
import contextlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numba_cases import compare, one_node, qtype, reference_storage, requant_attrs, storage
from qcompiler.backends.numba import NumbaExecutor
from qcompiler.backends.numba.kernels.bitserial_planes import activation_planes
from qcompiler.backends.numba.ops import products
from qcompiler.frontends.fx import import_module
from qcompiler.ir.registry import infer_types
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.zoo import digits_data, train_digits_cnn

ACTS = [("u8", 128), ("i8", -3), ("u4", 7), ("i4", 0), ("u2", 1), ("i2", -1)]
WEIGHTS = ["i2", "u2", "b1"]


@contextlib.contextmanager
def counting_bitserial_runs():
    """Counts of the bit-serial conv and linear runs (the products dispatch through these names)."""
    calls = {"conv": 0, "linear": 0}

    def counted(kind, fn):
        def wrapper(*args):
            calls[kind] += 1
            return fn(*args)
        return wrapper

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(products, "run_bitserial_conv", counted("conv", products.run_bitserial_conv))
        mp.setattr(products, "run_bitserial_linear", counted("linear", products.run_bitserial_linear))
        yield calls


@pytest.fixture
def bitserial_calls():
    with counting_bitserial_runs() as calls:
        yield calls


@pytest.mark.parametrize("planes, stride", [(1, 1), (2, 2), (8, 1)])
def test_activation_planes_hold_each_bit_in_the_documented_word(planes, stride):
    rng = np.random.default_rng(planes)
    n, channels, h, w, pad, pad_bits = 2, 70, 4, 6, 1, 2 ** planes - 1
    x = rng.integers(0, 2 ** planes, (n, channels, h, w)).astype(np.int32)  # x_min = 0: the bits are the values
    hp, wp = h + 2 * pad, w + 2 * pad
    ws, length, cw = -(-wp // stride), 64, 2
    words = np.zeros((n, stride * stride, cw * planes, length), np.uint64)
    sums = np.zeros((n, stride * stride, length), np.int64)
    used, nulls = np.ones(stride * stride, np.uint8), np.zeros((1, 1, 1), np.uint8)
    activation_planes(0, n, x, 0, 0, pad_bits, pad, pad, hp, wp, 1, planes, stride, stride, ws, used, words, True,
                      sums, nulls)
    bits = np.unpackbits(words.view(np.uint8), bitorder="little").reshape(n, stride * stride, cw, planes, length, 64)
    y, x_ = np.meshgrid(np.arange(hp), np.arange(wp), indexing="ij")
    phase, p = (y % stride) * stride + x_ % stride, (y // stride) * ws + x_ // stride
    c = np.arange(channels)[:, None, None]
    decoded = sum(bits[:, phase, c // 64, i, p, c % 64].astype(np.int64) << i for i in range(planes))
    padded = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=pad_bits)
    np.testing.assert_array_equal(decoded, padded)
    np.testing.assert_array_equal(sums[:, phase, p], padded.sum(axis=1))


def _weights(rng, w_storage, shape, per_channel):
    axis = 0 if per_channel else None
    zp = rng.integers(1, 3, shape[0]) if w_storage == "u2" and per_channel else (2 if w_storage == "u2" else 0)
    t = qtype(w_storage, shape, zp=zp, axis=axis)
    return t, storage(rng, t)


def _result(op, operands, attrs):
    return qtype("u8", infer_types(op, [t for t, _ in operands], attrs)[0].shape, zp=128)


def _check(op, rng, x_t, w, attrs, per_channel):
    """Numba, on the bit-serial kernel, equals the reference on random storage; most outputs of a
    large product are inside the clamp."""
    w_t, w_stored = w
    cout = w_t.shape[0]
    typical = int(np.sqrt(np.prod(w_t.shape[1:])) * (x_t.qmax - x_t.qmin) * 3 / 4) + 1
    attrs = {**attrs, **requant_attrs(rng, cout if per_channel else 1, "half_even", (8 / typical, 50 / typical)),
             "clamp": [0, 255]}
    bias = rng.integers(-2 * typical, 2 * typical + 1, cout).astype(np.int32)
    operands = [(x_t, None), (w_t, w_stored), (qtype("i32", (cout,), scale=1e-3), bias)]
    node = one_node(op, operands, attrs, _result(op, operands, attrs))
    with counting_bitserial_runs() as calls:
        out, = compare(node, [storage(rng, x_t), w_stored, bias])
    assert sum(calls.values()) == 1
    assert out.size < 16 or np.mean((out > 0) & (out < 255)) > 0.5


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 2), groups=st.sampled_from([1, 2, 3]),
       cin_g=st.integers(1, 5), cout_g=st.integers(1, 6), h=st.integers(3, 9), w=st.integers(3, 11),
       kh=st.integers(1, 3), kw=st.integers(1, 3), stride=st.integers(1, 2), dilation=st.integers(1, 2),
       pad=st.integers(0, 2), act=st.sampled_from(ACTS), w_storage=st.sampled_from(WEIGHTS), per_channel=st.booleans())
def test_random_convolutions_equal_the_reference(seed, n, groups, cin_g, cout_g, h, w, kh, kw, stride, dilation, pad,
                                                 act, w_storage, per_channel):
    rng = np.random.default_rng(seed)
    h, w = max(h, (kh - 1) * dilation + 1), max(w, (kw - 1) * dilation + 1)
    x_t = qtype(act[0], (n, groups * cin_g, h, w), zp=act[1])
    attrs = {"groups": groups, "stride": [stride, stride], "dilation": [dilation, dilation], "pad": [pad] * 4}
    cout = groups * cout_g
    _check("qconv2d", rng, x_t, _weights(rng, w_storage, (cout, cin_g, kh, kw), per_channel), attrs, per_channel)


@pytest.mark.parametrize("case", ["stride2_odd_pads", "depthwise_b1", "groups2_u2_per_channel", "reflect_i4_acts",
                                  "conv1d_long_k", "wide_k_u8"])
def test_named_convolutions_equal_the_reference(case):
    rng = np.random.default_rng(len(case))
    op, x_shape, w_shape, attrs, act, w_storage = {
        "stride2_odd_pads": ("qconv2d", (2, 3, 9, 7), (5, 3, 3, 3), {"stride": [2, 2], "pad": [1, 0, 1, 2]},
                             ("u8", 3), "i2"),
        "depthwise_b1": ("qconv2d", (1, 8, 6, 6), (8, 1, 3, 3), {"groups": 8, "pad": [1, 1, 1, 1]}, ("u8", 255),
                         "b1"),
        "groups2_u2_per_channel": ("qconv2d", (1, 4, 8, 5), (6, 2, 2, 3), {"groups": 2, "stride": [2, 1]},
                                   ("u8", 0), "u2"),
        "reflect_i4_acts": ("qconv2d", (1, 2, 6, 6), (3, 2, 3, 3), {"pad": [1, 1, 1, 1], "pad_mode": "reflect"},
                            ("i4", -8), "i2"),
        "conv1d_long_k": ("qconv1d", (2, 40, 30), (7, 40, 5), {"pad": [2, 2]}, ("u4", 3), "b1"),
        "wide_k_u8": ("qconv2d", (1, 64, 5, 6), (9, 64, 3, 3), {"pad": [1, 1, 1, 1]}, ("u8", 100), "i2"),
    }[case]
    x_t = qtype(act[0], x_shape, zp=act[1])
    _check(op, rng, x_t, _weights(rng, w_storage, w_shape, True), attrs, True)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), m=st.integers(1, 9), k=st.integers(1, 700), n_out=st.integers(1, 9),
       act=st.sampled_from(ACTS), w_storage=st.sampled_from(WEIGHTS), per_channel=st.booleans(),
       batch_dim=st.booleans())
def test_random_linears_equal_the_reference(seed, m, k, n_out, act, w_storage, per_channel, batch_dim):
    rng = np.random.default_rng(seed)
    x_t = qtype(act[0], (2, m, k) if batch_dim else (m, k), zp=act[1])
    _check("qlinear", rng, x_t, _weights(rng, w_storage, (n_out, k), per_channel), {}, per_channel)


def test_unproven_int32_accumulator_falls_back_and_still_equals_the_reference(bitserial_calls):
    rng = np.random.default_rng(3)
    x_t = qtype("u8", (3, 600), zp=0)
    w = _weights(rng, "b1", (4, 600), True)
    # a bias near 2^31 leaves no room in the proof: the int64 kernel with its overflow check runs
    operands = [(x_t, None), w, (qtype("i32", (4,), scale=1e-3), np.full(4, 2**31 - 10**5, np.int32))]
    attrs = {**requant_attrs(rng, 4, "half_even", (1e-9, 2e-9)), "clamp": [0, 255]}
    node = one_node("qlinear", operands, attrs, _result("qlinear", operands, attrs))
    compare(node, [rng.integers(0, 40, (3, 600)).astype(np.int32), w[1], operands[2][1]])
    assert bitserial_calls["linear"] == 0


@pytest.fixture(scope="module", params=["u8", "i4"])
def digits_2bit(request):
    """The digits CNN with i2 weights and u8 activations, or i4 ones: the narrowest activations the
    compiler offers (`quantize{acts=...}`: u8, i8, u4, i4), four bit planes on the kernel."""
    torch.set_num_threads(1)
    model = train_digits_cnn()
    x_train, _, x_test, _ = digits_data()
    graph = import_module(model, x_train[:4], dynamic_batch=True)
    run_pipeline(graph, "fold-bn,calibrate{samples=128,method=mse,weight_bits=2},"
                 f"quantize{{weights=i2,acts={request.param}}},lower", PassContext(calibration=x_train.numpy()))
    return graph, x_test.numpy()[:64], request.param


def test_2bit_digits_cnn_runs_bitserial_and_equals_the_reference_end_to_end(digits_2bit, bitserial_calls):
    graph, x, acts = digits_2bit
    products_ = [n for n in graph.nodes if n.op in ("qconv2d", "qlinear")]
    assert len(products_) == 3 and all(n.inputs[1].type.storage == "i2" for n in products_)
    assert all(n.inputs[0].type.storage == acts for n in products_)
    ex = NumbaExecutor(graph)
    got = ex.run_storage([x])
    want = reference_storage(graph, [x])
    assert bitserial_calls == {"conv": 2, "linear": 1}
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    np.testing.assert_array_equal(ex([x])[0], run_graph(graph, [x])[0])

