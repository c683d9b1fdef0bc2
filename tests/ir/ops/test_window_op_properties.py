"""Property tests over random geometry: for conv1d/conv2d, conv_transpose2d and the 2-D
pools, the inferred shape equals the numpy reference's and torch's output shape (also
with a symbolic batch), and the values agree with torch.nn.functional."""
import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from qcompiler.ir import TensorType, get_op, infer_types, run_reference

TOL = dict(rtol=1e-5, atol=1e-5)
SETTINGS = settings(max_examples=40, deadline=None)


def check(op, arrays, attrs, want):
    """Reference, torch_impl and inference against the torch.nn.functional result `want`."""
    (got,) = run_reference(op, arrays, attrs)
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got, want.numpy(), **TOL)
    d = get_op(op)
    full = {k: v for k, v in d.with_defaults(attrs).items() if k in d.attrs}
    np.testing.assert_allclose(d.torch(*[None if a is None else torch.from_numpy(a) for a in arrays], **full).numpy(),
                               got, **TOL)
    types = [None if a is None else TensorType("f32", a.shape) for a in arrays]
    assert infer_types(op, types, attrs)[0].shape == got.shape
    types[0] = TensorType("f32", ("N",) + arrays[0].shape[1:])
    assert infer_types(op, types, attrs)[0].shape == ("N",) + got.shape[1:]


@st.composite
def conv_cases(draw):
    n = draw(st.sampled_from([1, 2]))
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    stride = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    dilation = draw(st.lists(st.integers(1, 2), min_size=n, max_size=n))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    begin = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    end = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    # big enough for the window and for reflect/circular padding
    sizes = [draw(st.integers(max(d * (k - 1) + 1, b + 1, e + 1), 9))
             for k, d, b, e in zip(kernel, dilation, begin, end)]
    bias = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((2, cin, *sizes)).astype(np.float32)
    w = rng.standard_normal((cout, cin // groups, *kernel)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32) if bias else None
    attrs = dict(stride=stride, dilation=dilation, groups=groups, pad=begin + end, pad_mode=mode)
    return n, x, w, b, attrs


@SETTINGS
@given(conv_cases())
def test_conv_matches_torch_and_inference(case):
    n, x, w, b, attrs = case
    torch_pad = []
    for bp, ep in zip(reversed(attrs["pad"][:n]), reversed(attrs["pad"][n:])):
        torch_pad += [bp, ep]
    mode = {"zeros": "constant"}.get(attrs["pad_mode"], attrs["pad_mode"])
    xt = F.pad(torch.from_numpy(x), torch_pad, mode=mode)
    conv = F.conv1d if n == 1 else F.conv2d
    want = conv(xt, torch.from_numpy(w), None if b is None else torch.from_numpy(b),
                attrs["stride"], 0, attrs["dilation"], attrs["groups"])
    check(f"conv{n}d", [x, w, b], attrs, want)


@SETTINGS
@given(groups=st.integers(1, 2), k=st.integers(1, 3), s=st.integers(1, 3), d=st.integers(1, 2),
       p=st.integers(0, 2), size=st.integers(2, 6), op_seed=st.integers(0, 2**16))
def test_conv_transpose_matches_torch_and_inference(groups, k, s, d, p, size, op_seed):
    rng = np.random.default_rng(op_seed)
    out_pad = int(rng.integers(0, max(s, d)))
    if (size - 1) * s - 2 * p + d * (k - 1) + out_pad + 1 < 1:
        return  # the pads would remove the whole output
    x = rng.standard_normal((2, 2 * groups, size, size + 1)).astype(np.float32)
    w = rng.standard_normal((2 * groups, 3, k, k)).astype(np.float32)
    b = rng.standard_normal(3 * groups).astype(np.float32)
    want = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), s, p, out_pad, groups, d)
    attrs = dict(stride=[s, s], pad=[p] * 4, output_padding=[out_pad] * 2, dilation=[d, d], groups=groups)
    check("conv_transpose2d", [x, w, b], attrs, want)


@SETTINGS
@given(k=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 2), ceil=st.booleans(), cip=st.booleans(),
       size=st.integers(7, 12), data=st.data())
def test_pools_match_torch_and_inference(k, s, d, ceil, cip, size, data):
    p = data.draw(st.integers(0, k // 2))
    x = np.random.default_rng(size * 31 + k).standard_normal((2, 3, size, size + 2)).astype(np.float32)
    xt = torch.from_numpy(x)
    common = dict(kernel=[k, k], stride=[s, s], pad=[p, p], ceil_mode=ceil)
    if p <= (d * (k - 1) + 1) // 2:
        check("max_pool2d", [x], {**common, "dilation": [d, d]}, F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil))
    check("avg_pool2d", [x], {**common, "count_include_pad": cip}, F.avg_pool2d(xt, k, s, p, ceil, cip))
