"""The torch implementations are differentiable where they deviate from a plain
torch.nn.functional call (explicit pads, crops, pooling masks, broadcast norms)."""
import pytest
import torch

from qcompiler.ir import get_op

GEN = torch.Generator().manual_seed(0)


def rand(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float64, requires_grad=True)


CASES = [
    ("conv2d", [rand(1, 2, 5, 6), rand(4, 1, 3, 2), rand(4)],
     dict(pad=[1, 0, 2, 1], pad_mode="reflect", groups=2, stride=[2, 1], activation="leaky_relu")),
    ("conv1d", [rand(1, 2, 7), rand(3, 2, 3), None], dict(pad=[2, 1], pad_mode="circular", dilation=[2])),
    ("conv_transpose2d", [rand(1, 2, 3, 3), rand(2, 3, 3, 3), rand(3)],
     dict(stride=[2, 2], pad=[1, 0, 0, 1], output_padding=[1, 1], activation="hardswish")),
    ("avg_pool2d", [rand(1, 2, 5, 6)], dict(kernel=[3, 3], stride=[2, 2], pad=[1, 1], ceil_mode=True, count_include_pad=False)),
    ("max_pool1d", [rand(1, 2, 9)], dict(kernel=[3], stride=[2], pad=[1], dilation=[2], ceil_mode=True)),
    ("layer_norm", [rand(2, 3, 4), rand(4), rand(3, 1)], dict(axis=1)),
    ("hardsigmoid", [rand(2, 8)], dict(alpha=0.2, beta=0.5)),
    ("gemm", [rand(3, 4), rand(5, 4), rand(5)], dict(alpha=0.5, beta=2.0, trans_b=True)),
]


@pytest.mark.parametrize("op,inputs,attrs", CASES, ids=[c[0] for c in CASES])
def test_torch_impl_gradients_are_correct(op, inputs, attrs):
    d = get_op(op)
    full = {k: v for k, v in d.with_defaults(attrs).items() if k in d.attrs}
    present = [t for t in inputs if t is not None]

    def fn(*tensors):
        it = iter(tensors)
        return d.torch(*[None if t is None else next(it) for t in inputs], **full)

    assert torch.autograd.gradcheck(fn, present, eps=1e-6, atol=1e-5)
