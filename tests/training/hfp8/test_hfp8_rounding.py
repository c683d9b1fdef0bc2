"""Round-to-nearest matches numerics/minifloat.py; stochastic rounding is unbiased and seeded."""
import numpy as np
import pytest
import torch

from qcompiler.numerics.minifloat import round_to_format
from qcompiler.training.hfp8 import resolve_format, round_nearest, round_stochastic


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "fp16", "e6m5"])
def test_round_nearest_matches_numpy_minifloat(name):
    fmt = resolve_format(name, "test")
    x = torch.randn(4000, generator=torch.Generator().manual_seed(3)) * 40
    assert torch.equal(round_nearest(x, fmt), torch.from_numpy(round_to_format(x.numpy(), fmt)))


def test_fp16_round_nearest_is_torch_half_cast():
    x = torch.randn(4000, generator=torch.Generator().manual_seed(4)) * 100
    assert torch.equal(round_nearest(x, resolve_format("fp16", "test")), x.half().float())


def test_stochastic_rounding_is_unbiased_and_lands_on_neighbours():
    fmt = resolve_format("e4m3", "test")
    x = torch.tensor([0.3, -1.7, 2.9, 100.0, 0.0013], dtype=torch.float64)
    lo_hi = torch.stack([round_nearest(x, fmt)])
    draws = torch.stack([round_stochastic(x.expand(1000, -1), fmt, torch.Generator().manual_seed(s))
                         for s in range(20)]).reshape(-1, 5)
    assert set(np.unique(draws[:, 0].numpy())) <= {0.28125, 0.3125}
    mean = draws.mean(0)
    spacing = (draws.max(0).values - draws.min(0).values)
    assert torch.all((mean - x).abs() < 0.02 * spacing + 1e-12), (mean, x)
    nearest_bias = (lo_hi[0] - x).abs()
    assert torch.all((mean - x).abs() < nearest_bias + 1e-12)


def test_stochastic_rounding_is_seeded_deterministic():
    fmt = resolve_format("bf16", "test")
    x = torch.randn(500, generator=torch.Generator().manual_seed(5))
    first = round_stochastic(x, fmt, torch.Generator().manual_seed(7))
    assert torch.equal(first, round_stochastic(x, fmt, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, round_stochastic(x, fmt, torch.Generator().manual_seed(8)))


@pytest.mark.parametrize("bad", ["fp8", "e9m2", "e4", 16])
def test_bad_format_names_the_option(bad):
    with pytest.raises((ValueError, TypeError), match="accumulate"):
        resolve_format(bad, "accumulate")
