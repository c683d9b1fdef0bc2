"""Fused activation attributes on conv1d/conv2d/conv_transpose2d/linear: applied after
the bias, identically in the numpy reference and the torch implementation."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qcompiler.ir import get_op, run_reference

RNG = np.random.default_rng(1)
TOL = dict(rtol=1e-5, atol=1e-5)


def rand(*shape):
    return (RNG.standard_normal(shape) * 2).astype(np.float32)


# op -> (inputs, attrs, the unfused op in torch.nn.functional)
PRODUCERS = {
    "conv1d": ([rand(2, 3, 9), rand(4, 3, 3), rand(4)], {"pad": [1]}, lambda x, w, b: F.conv1d(x, w, b, padding=1)),
    "conv2d": ([rand(2, 3, 6, 6), rand(4, 3, 3, 3), rand(4)], {"stride": [2, 2]}, lambda x, w, b: F.conv2d(x, w, b, 2)),
    "conv_transpose2d": ([rand(2, 3, 4, 4), rand(3, 2, 3, 3), rand(2)], {"stride": [2, 2]},
                         lambda x, w, b: F.conv_transpose2d(x, w, b, 2)),
    "linear": ([rand(5, 6), rand(4, 6), rand(4)], {}, F.linear),
}
# fused attrs -> the activation torch applies after the producer
ACTIVATIONS = [
    ({"activation": "relu"}, F.relu),
    ({"activation": "relu6"}, F.relu6),
    ({"activation": "clip", "activation_min": -0.5, "activation_max": 0.7}, lambda y: torch.clamp(y, -0.5, 0.7)),
    ({"activation": "clip", "activation_max": 1.0}, lambda y: torch.clamp(y, max=1.0)),
    ({"activation": "hardswish"}, F.hardswish),
    ({"activation": "sigmoid"}, torch.sigmoid),
    ({"activation": "leaky_relu", "activation_alpha": 0.2}, lambda y: F.leaky_relu(y, 0.2)),
    ({"activation": "leaky_relu"}, F.leaky_relu),
]


@pytest.mark.parametrize("fused,torch_act", ACTIVATIONS, ids=[str(a[0]) for a in ACTIVATIONS])
@pytest.mark.parametrize("op", PRODUCERS)
def test_fused_activation_runs_after_bias_in_both_implementations(op, fused, torch_act):
    inputs, attrs, torch_op = PRODUCERS[op]
    tensors = [torch.from_numpy(a) for a in inputs]
    want = torch_act(torch_op(*tensors)).numpy()
    (got,) = run_reference(op, inputs, {**attrs, **fused})
    np.testing.assert_allclose(got, want, **TOL)
    d = get_op(op)
    full = {k: v for k, v in d.with_defaults({**attrs, **fused}).items() if k in d.attrs}
    np.testing.assert_allclose(d.torch(*tensors, **full).numpy(), want, **TOL)


@pytest.mark.parametrize("op", PRODUCERS)
def test_no_fused_activation_leaves_output_unchanged(op):
    inputs, attrs, torch_op = PRODUCERS[op]
    (got,) = run_reference(op, inputs, attrs)
    assert got.min() < 0, "the unfused output must keep negative values"
    np.testing.assert_allclose(got, torch_op(*[torch.from_numpy(a) for a in inputs]).numpy(), **TOL)
