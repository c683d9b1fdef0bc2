"""train(): a tiny HFP8 run lowers the loss; round-to-nearest updates stall where stochastic ones move;
bad options are named."""
import pytest
import torch
from torch import nn

from qcompiler.training.hfp8 import LowPrecisionSGD, resolve_format, train


def _blobs(seed=0, n=128):
    centers = torch.randn(3, 16, generator=torch.Generator().manual_seed(100)) * 2
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = centers[y] + torch.randn(n, 16, generator=g)
    return [(x[i:i + 32], y[i:i + 32]) for i in range(0, n, 32)]


def test_tiny_hfp8_training_run_improves_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
    log = train(model, _blobs(), epochs=4, chunk=4, accumulate="fp16", lr=0.05, quiet=True, eval_data=_blobs(1))
    assert log[-1].loss < 0.5 * log[0].loss
    assert log[-1].accuracy > 0.8


def test_nearest_updates_stall_where_stochastic_ones_follow_the_exact_update():
    bf16 = resolve_format("bf16", "weights")
    moved = {}
    for rounding in ("nearest", "stochastic"):
        p = nn.Parameter(torch.ones(2000))
        opt = LowPrecisionSGD([p], lr=1e-3, weight_format=bf16, rounding=rounding, seed=3)
        for _ in range(10):
            p.grad = torch.ones(2000)  # each step asks for -1e-3, under half of bf16's 2^-8 spacing below 1
            opt.step()
        moved[rounding] = float(1.0 - p.detach().mean())
    assert moved["nearest"] == 0.0
    assert abs(moved["stochastic"] - 0.01) < 0.002


@pytest.mark.parametrize("option, value", [("chunk", 0), ("accumulate", "fp12"), ("weights", "e9m9"),
                                           ("update_rounding", "floor"), ("epochs", 0), ("lr", -1.0)])
def test_bad_options_are_named(option, value):
    kwargs = {"epochs": 1, option: value}
    with pytest.raises(ValueError, match=option):
        train(nn.Linear(16, 3), _blobs(), quiet=True, **kwargs)
