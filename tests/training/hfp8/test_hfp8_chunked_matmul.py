"""Chunked accumulation equals its loop definition; chunks keep long sums from swamping."""
import numpy as np
import pytest
import torch

from qcompiler.numerics.minifloat import positive_values
from qcompiler.training.hfp8 import resolve_format, round_nearest, rounded_matmul


def _e4m3_values(shape, seed):
    """Random E4M3 values (signed), so every product and chunk sum is exact in float64."""
    rng = np.random.default_rng(seed)
    values = positive_values(resolve_format("e4m3", "test"))
    picked = rng.choice(values[values < 16], size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return torch.from_numpy(picked.astype(np.float32))


def _loop_reference(a, b, chunk, fmt):
    n, k = a.shape
    out = torch.zeros(n, b.shape[1], dtype=torch.float64)
    for i in range(n):
        for j in range(b.shape[1]):
            acc = torch.zeros((), dtype=torch.float64)
            for start in range(0, k, chunk):
                s = sum(float(a[i, t]) * float(b[t, j]) for t in range(start, min(start + chunk, k)))
                acc = round_nearest(acc + round_nearest(torch.tensor(s, dtype=torch.float64), fmt), fmt)
            out[i, j] = acc
    return out.float()


@pytest.mark.parametrize("accumulator", ["fp16", "e5m4", "bf16"])
@pytest.mark.parametrize("chunk", [1, 3, 8, 40])
def test_rounded_matmul_equals_loop_definition(accumulator, chunk):
    fmt = resolve_format(accumulator, "accumulate")
    a, b = _e4m3_values((3, 37), 1), _e4m3_values((37, 4), 2)
    assert torch.equal(rounded_matmul(a, b, chunk, fmt), _loop_reference(a, b, chunk, fmt))


def test_naive_accumulation_error_grows_while_chunked_stays_bounded():
    # e6m5 swamps at short lengths (fp16 does the same past 4096 terms, bench/hfp8_training.py)
    accumulator = resolve_format("e6m5", "accumulate")
    generator = torch.Generator().manual_seed(0)
    naive, chunked = [], []
    for k in (64, 512, 2048):
        a = torch.rand(1, k, generator=generator)
        exact = float(a.double().sum())
        ones = torch.ones(k, 1)
        naive.append(abs(float(rounded_matmul(a, ones, 1, accumulator)) - exact) / exact)
        chunked.append(abs(float(rounded_matmul(a, ones, 32, accumulator)) - exact) / exact)
    assert naive[0] < naive[1] < naive[2] and naive[2] > 0.5  # swamped: most addends lost
    assert max(chunked) < 0.02  # about one e6m5 half-spacing (2^-6) over every length


def test_fp32_accumulator_is_the_float_product():
    a, b = torch.randn(5, 70), torch.randn(70, 6)
    exact = a.double() @ b.double()
    assert float((rounded_matmul(a, b, 16, None).double() - exact).abs().max()) < 1e-5
