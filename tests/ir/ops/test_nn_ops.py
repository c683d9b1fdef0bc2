"""Neural-network ops: numpy reference vs torch.nn.functional, torch_impl vs reference,
and inferred shapes vs real output shapes (static and with a symbolic batch dim)."""
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qcompiler.ir import Graph, TensorType, get_op, infer_types, run_reference, verify
from qcompiler.ir.types import tensor_type_of
from qcompiler.runtime.reference import run_graph

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-5, atol=1e-5)

NN_OPS = """conv1d conv2d conv_transpose2d linear gemm matmul batch_norm layer_norm instance_norm lrn
max_pool1d max_pool2d avg_pool1d avg_pool2d global_avg_pool global_max_pool adaptive_avg_pool2d
relu relu6 sigmoid tanh hardswish hardsigmoid silu softplus gelu leaky_relu elu clip prelu
softmax log_softmax dropout""".split()


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def positive(*shape):
    return RNG.uniform(0.5, 2.0, shape).astype(np.float32)


@dataclass
class Case:
    op: str
    inputs: list
    attrs: dict
    torch_ref: Callable
    id: str
    symbolic_batch: bool = True  # dim 0 of the first input is the batch dim of the result

    def __repr__(self):
        return f"{self.op}-{self.id}"


X4, X3 = rand(2, 4, 9, 8), rand(2, 4, 11)
ACT = rand(2, 3, 5, 4, scale=4.0)
ACT[0, 0, 0, :] = [-120.0, -30.0, 25.0, 90.0]  # saturating / overflow-prone values
CASES = [
    # conv1d
    Case("conv1d", [X3, rand(6, 4, 3), rand(6)], dict(pad=[1]), lambda x, w, b: F.conv1d(x, w, b, padding=1), "pad"),
    Case("conv1d", [X3, rand(6, 2, 3), None], dict(stride=[2], dilation=[2], groups=2),
         lambda x, w, b: F.conv1d(x, w, None, 2, 0, 2, 2), "strided-dilated-grouped"),
    Case("conv1d", [X3, rand(4, 4, 3), rand(4)], dict(pad=[2, 1]),
         lambda x, w, b: F.conv1d(F.pad(x, [2, 1]), w, b), "asymmetric-pad"),
    *[Case("conv1d", [X3, rand(5, 4, 3), rand(5)], dict(pad=[2, 2], pad_mode=mode),
           lambda x, w, b, mode=mode: F.conv1d(F.pad(x, [2, 2], mode=mode), w, b), mode)
      for mode in ("reflect", "replicate", "circular")],
    # conv2d
    Case("conv2d", [X4, rand(6, 4, 3, 3), rand(6)], dict(pad=[1, 1, 1, 1]),
         lambda x, w, b: F.conv2d(x, w, b, padding=1), "same"),
    Case("conv2d", [X4, rand(6, 2, 3, 3), rand(6)], dict(stride=[2, 1], pad=[1, 1], dilation=[1, 2], groups=2),
         lambda x, w, b: F.conv2d(x, w, b, (2, 1), (1, 1), (1, 2), 2), "strided-dilated-grouped"),
    Case("conv2d", [X4, rand(8, 1, 3, 3), rand(8)], dict(stride=[2, 2], pad=[1, 1, 1, 1], groups=4),
         lambda x, w, b: F.conv2d(x, w, b, 2, 1, 1, 4), "depthwise-multiplier-2"),
    Case("conv2d", [X4, rand(3, 4, 1, 1), None], {}, lambda x, w, b: F.conv2d(x, w), "pointwise-no-bias"),
    Case("conv2d", [X4, rand(5, 4, 2, 3), rand(5)], dict(pad=[1, 0, 2, 1], stride=[3, 2]),
         lambda x, w, b: F.conv2d(F.pad(x, [0, 1, 1, 2]), w, b, (3, 2)), "asymmetric-pad"),
    *[Case("conv2d", [X4, rand(6, 2, 3, 3), rand(6)], dict(pad=[2, 1, 2, 1], pad_mode=mode, groups=2),
           lambda x, w, b, mode=mode: F.conv2d(F.pad(x, [1, 1, 2, 2], mode=mode), w, b, groups=2), mode)
      for mode in ("reflect", "replicate", "circular")],
    # conv_transpose2d; w: [C_in, C_out/groups, kh, kw]
    Case("conv_transpose2d", [X4, rand(4, 3, 3, 3), rand(3)], dict(pad=[1, 1, 1, 1]),
         lambda x, w, b: F.conv_transpose2d(x, w, b, padding=1), "pad"),
    Case("conv_transpose2d", [X4, rand(4, 5, 3, 2), rand(5)], dict(stride=[2, 3], pad=[1, 0, 1, 0], output_padding=[1, 2]),
         lambda x, w, b: F.conv_transpose2d(x, w, b, (2, 3), (1, 0), (1, 2)), "strided-output-padding"),
    Case("conv_transpose2d", [X4, rand(4, 2, 3, 3), rand(4)], dict(stride=[2, 2], dilation=[2, 1], groups=2, output_padding=[1, 0]),
         lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 0, (1, 0), 2, (2, 1)), "dilated-grouped"),
    Case("conv_transpose2d", [X4, rand(4, 3, 3, 3), None], dict(stride=[2, 2], pad=[1, 0, 2, 1]),
         lambda x, w, b: F.conv_transpose2d(x, w, None, 2)[..., 1:-2, 0:-1], "asymmetric-pad-crops-full-output"),
    # products
    Case("linear", [rand(5, 7), rand(3, 7), rand(3)], {}, F.linear, "2d"),
    Case("linear", [rand(2, 4, 7), rand(3, 7), None], {}, lambda x, w, b: F.linear(x, w), "3d-no-bias"),
    Case("gemm", [rand(4, 5), rand(5, 3), rand(3)], dict(alpha=0.5, beta=2.0),
         lambda a, b, c: 0.5 * a @ b + 2.0 * c, "alpha-beta-broadcast-c"),
    Case("gemm", [rand(5, 4), rand(3, 5), None], dict(trans_a=True, trans_b=True),
         lambda a, b, c: a.T @ b.T, "transposed", symbolic_batch=False),
    Case("matmul", [rand(4, 5), rand(5, 3)], {}, torch.matmul, "2d"),
    Case("matmul", [rand(2, 1, 3, 4), rand(5, 4, 6)], {}, torch.matmul, "batched-broadcast"),
    Case("matmul", [rand(4), rand(2, 4, 3)], {}, torch.matmul, "1d-by-batched", symbolic_batch=False),
    Case("matmul", [rand(2, 3, 4), rand(4)], {}, torch.matmul, "batched-by-1d"),
    Case("matmul", [rand(4), rand(4)], {}, torch.matmul, "dot", symbolic_batch=False),
    # normalization
    Case("batch_norm", [X4, rand(4), rand(4), rand(4), positive(4)], dict(eps=1e-3),
         lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b, eps=1e-3), "4d"),
    Case("batch_norm", [rand(6, 4), rand(4), rand(4), rand(4), positive(4)], {},
         lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b), "2d"),
    Case("layer_norm", [rand(2, 3, 8), rand(8), rand(8)], {}, lambda x, w, b: F.layer_norm(x, (8,), w, b), "last-axis"),
    Case("layer_norm", [rand(2, 3, 8), rand(3, 8), None], dict(axis=1, eps=1e-3),
         lambda x, w, b: F.layer_norm(x, (3, 8), w, eps=1e-3), "two-axes-no-bias"),
    Case("layer_norm", [rand(2, 3, 8)], {}, lambda x: F.layer_norm(x, (8,)), "no-params"),
    Case("instance_norm", [X4, rand(4), rand(4)], {}, lambda x, w, b: F.instance_norm(x, weight=w, bias=b), "4d"),
    Case("instance_norm", [X3, rand(4), rand(4)], dict(eps=1e-2),
         lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-2), "3d"),
    # odd windows only: torch centres an even one a channel later than ONNX (see test_light_zoo_ops)
    Case("lrn", [X4], dict(size=3, alpha=0.1, beta=0.75, bias=2.0),
         lambda x: F.local_response_norm(x, 3, alpha=0.1, beta=0.75, k=2.0), "4d"),
    Case("lrn", [X3], dict(size=5), lambda x: F.local_response_norm(x, 5, alpha=1e-4, beta=0.75, k=1.0), "3d"),
    # pooling
    Case("max_pool1d", [X3], dict(kernel=[3], stride=[2], pad=[1], dilation=[2], ceil_mode=True),
         lambda x: F.max_pool1d(x, 3, 2, 1, 2, ceil_mode=True), "ceil-dilated"),
    Case("max_pool1d", [X3], dict(kernel=[2], stride=[2], pad=[1], ceil_mode=True),
         lambda x: F.max_pool1d(x, 2, 2, 1, ceil_mode=True), "ceil-drops-window-starting-in-end-pad"),
    Case("max_pool2d", [X4], dict(kernel=[2, 2]), lambda x: F.max_pool2d(x, 2), "default-stride"),
    Case("max_pool2d", [X4], dict(kernel=[3, 3], stride=[2, 2], pad=[1, 1], ceil_mode=True),
         lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), "ceil-pad"),
    Case("max_pool2d", [X4], dict(kernel=[2, 3], stride=[1, 2], dilation=[2, 1], pad=[1, 0]),
         lambda x: F.max_pool2d(x, (2, 3), (1, 2), (1, 0), (2, 1)), "dilated"),
    *[Case("avg_pool1d", [X3], dict(kernel=[4], stride=[3], pad=[2], ceil_mode=True, count_include_pad=cip),
           lambda x, cip=cip: F.avg_pool1d(x, 4, 3, 2, ceil_mode=True, count_include_pad=cip), f"ceil-include-{cip}")
      for cip in (True, False)],
    Case("avg_pool2d", [X4], dict(kernel=[2, 2]), lambda x: F.avg_pool2d(x, 2), "default-stride"),
    *[Case("avg_pool2d", [X4], dict(kernel=[3, 2], stride=[2, 2], pad=[1, 1], ceil_mode=ceil, count_include_pad=cip),
           lambda x, ceil=ceil, cip=cip: F.avg_pool2d(x, (3, 2), 2, 1, ceil, cip), f"ceil-{ceil}-include-{cip}")
      for ceil in (True, False) for cip in (True, False)],
    Case("avg_pool2d", [X4], dict(kernel=[2, 2], stride=[2, 2], pad=[1, 1], ceil_mode=True),
         lambda x: F.avg_pool2d(x, 2, 2, 1, ceil_mode=True), "ceil-drops-window-starting-in-end-pad"),
    Case("global_avg_pool", [X4], {}, lambda x: F.adaptive_avg_pool2d(x, 1), "4d"),
    Case("global_max_pool", [X4], {}, lambda x: F.adaptive_max_pool2d(x, 1), "4d"),
    Case("global_avg_pool", [X3], {}, lambda x: F.adaptive_avg_pool1d(x, 1), "3d"),
    *[Case("adaptive_avg_pool2d", [X4], dict(output_size=list(size)), lambda x, s=size: F.adaptive_avg_pool2d(x, s), str(size))
      for size in ((3, 2), (1, 1), (4, 5), (9, 8))],
    # activations
    *[Case(name, [ACT], {}, fn, "default") for name, fn in [
        ("relu", F.relu), ("relu6", F.relu6), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh),
        ("hardswish", F.hardswish), ("hardsigmoid", F.hardsigmoid), ("silu", F.silu), ("softplus", F.softplus),
        ("gelu", F.gelu), ("leaky_relu", F.leaky_relu), ("elu", F.elu), ("clip", lambda x: x),
        ("softmax", lambda x: F.softmax(x, -1)), ("log_softmax", lambda x: F.log_softmax(x, -1)), ("dropout", lambda x: x)]],
    Case("hardsigmoid", [ACT], dict(alpha=0.2, beta=0.5), lambda x: torch.clamp(0.2 * x + 0.5, 0, 1), "onnx-slope"),
    Case("gelu", [ACT], dict(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"), "tanh"),
    Case("leaky_relu", [ACT], dict(alpha=0.2), lambda x: F.leaky_relu(x, 0.2), "alpha"),
    Case("elu", [ACT], dict(alpha=0.5), lambda x: F.elu(x, 0.5), "alpha"),
    Case("clip", [ACT], {"min": -1.5, "max": 2.0}, lambda x: torch.clamp(x, -1.5, 2.0), "both"),
    Case("clip", [ACT], {"min": 0.0}, lambda x: torch.clamp(x, min=0.0), "min-only"),
    Case("prelu", [ACT, rand(3)], {}, F.prelu, "per-channel"),
    Case("prelu", [ACT, rand(1)], {}, F.prelu, "shared"),
    Case("prelu", [ACT, rand(3, 1, 1)], {}, lambda x, s: F.prelu(x, s.reshape(-1)), "onnx-shaped-slope"),
    Case("softmax", [ACT], dict(axis=1), lambda x: F.softmax(x, 1), "axis-1"),
    Case("log_softmax", [ACT], dict(axis=-2), lambda x: F.log_softmax(x, -2), "axis-minus-2"),
    Case("dropout", [ACT], dict(p=0.1), lambda x: F.dropout(x, 0.1, training=False), "p"),
]


def tensors(arrays):
    return [None if a is None else torch.from_numpy(a) for a in arrays]


def types_of(arrays):
    return [None if a is None else tensor_type_of(a) for a in arrays]


def reference(case):
    (out,) = run_reference(case.op, case.inputs, case.attrs)
    return out


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_reference_matches_torch_functional(case):
    got = reference(case)
    assert got.dtype == np.float32, "the reference must keep the input's dtype"
    want = case.torch_ref(*tensors(case.inputs)).numpy()
    np.testing.assert_allclose(got, want, **TOL)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_torch_impl_matches_reference(case):
    d = get_op(case.op)
    attrs = {k: v for k, v in d.with_defaults(case.attrs).items() if k in d.attrs}
    got = d.torch(*tensors(case.inputs), **attrs)
    np.testing.assert_allclose(got.numpy(), reference(case), **TOL)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_inferred_shape_matches_output(case):
    out = reference(case)
    (static,) = infer_types(case.op, types_of(case.inputs), case.attrs)
    assert static == TensorType("f32", out.shape)
    if case.symbolic_batch:
        types = types_of(case.inputs)
        types[0] = TensorType("f32", ("N",) + types[0].shape[1:])
        (symbolic,) = infer_types(case.op, types, case.attrs)
        assert symbolic.shape == ("N",) + out.shape[1:]


def test_every_nn_op_is_registered_with_torch_impl_and_tested():
    assert all(get_op(name).torch is not None for name in NN_OPS)
    assert {c.op for c in CASES} == set(NN_OPS)


def test_small_cnn_graph_verifies_and_matches_torch_impls():
    g = Graph("cnn")
    x = g.add_input("x", TensorType("f32", ("N", 3, 12, 12)))
    w, b = g.constant(rand(8, 3, 3, 3), origin="conv.weight"), g.constant(rand(8), origin="conv.bias")
    bn = [g.constant(a) for a in (rand(8), rand(8), rand(8), positive(8))]
    y = g.add("conv2d", [x, w, b], dict(stride=[2, 2], pad=[1, 1, 1, 1])).output
    y = g.add("batch_norm", [y, *bn]).output
    y = g.add("relu", [y]).output
    y = g.add("max_pool2d", [y], dict(kernel=[3, 3], stride=[2, 2], ceil_mode=True)).output
    y = g.add("global_avg_pool", [y]).output
    g.set_outputs([y])
    verify(g)
    assert y.type.shape == ("N", 8, 1, 1)
    data = rand(2, 3, 12, 12)
    (got,) = run_graph(g, [data])
    env = {id(x): torch.from_numpy(data)}
    for node in g.nodes:
        args = [env[id(v)] for v in node.inputs]
        const = node.attrs["value"].array if node.op == "const" else None
        env[id(node.output)] = torch.tensor(const) if const is not None else get_op(node.op).torch(*args, **node.attrs)
    np.testing.assert_allclose(got, env[id(y)].numpy(), **TOL)
    assert got.shape == (2, 8, 1, 1)


def test_symbolic_spatial_dims_keep_their_name_only_when_the_op_preserves_them():
    x, w = TensorType("f32", ("N", 4, "H", "W")), TensorType("f32", (6, 4, 3, 3))
    (same,) = infer_types("conv2d", [x, w], dict(pad=[1, 1, 1, 1]))
    (down,) = infer_types("conv2d", [x, w], dict(pad=[1, 1, 1, 1], stride=[2, 1]))
    (up,) = infer_types("conv_transpose2d", [TensorType("f32", ("N", 6, "H", "W")), w], dict(stride=[2, 2]))
    (pooled,) = infer_types("max_pool2d", [x], dict(kernel=[3, 3], stride=[1, 1], pad=[1, 1]))
    assert same.shape == ("N", 6, "H", "W") and pooled.shape == ("N", 4, "H", "W")
    assert down.shape == ("N", 6, "H_out", "W") and up.shape == ("N", 4, "H_out", "W_out")


def test_quantized_operands_compute_as_their_expressed_float_type():
    from qcompiler.ir import QuantType

    x = QuantType("i8", "f32", ("N", 4, 8, 8), scale=0.1, zero_point=0)
    w = QuantType("i4", "f32", (6, 4, 3, 3), scale=np.full(6, 0.05), zero_point=np.zeros(6), axis=0)
    (y,) = infer_types("conv2d", [x, w], {})
    assert y == TensorType("f32", ("N", 6, 6, 6))
