"""Every handler of the torch op table (frontends/fx_table.py) against torch. Each case is a
tiny module captured by torch.export (the ATen spellings) and by fx symbolic tracing (the
operator, Tensor-method and torch-function spellings), converted and run by both
executors; `test_every_handler_is_reached` checks that the cases reach every registered
handler, through torch.export whenever the handler has an ATen spelling."""
from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from fx_helpers import assert_faithful

from qcompiler.frontends import fx as _registers_handlers  # noqa: F401
from qcompiler.frontends.fx_convert import Converter
from qcompiler.frontends.fx_meta import propagate
from qcompiler.frontends.fx_table import FUNCTIONS, METHODS, MODULES, describe, function_handler
from qcompiler.frontends.fx_tracer import export_trace, is_guard, symbolic_trace
from qcompiler.ir.verifier import verify

aten = torch.ops.aten


class Fn1(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Fn2(Fn1):
    def forward(self, x, y):
        return self.fn(x, y)


class Fn3(Fn1):
    def forward(self, x, y, z):
        return self.fn(x, y, z)


def r(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))


def mask(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) > 0.5


def x2():
    return (r(3, 4),)


def xy():
    return r(3, 4), r(3, 4) + 0.5


def img():
    return (r(1, 2, 6, 6),)


# name -> (fn, inputs, dynamic batch). One tiny shape each; a dynamic case is exported with
# dim 0 symbolic, which is where torch.export records sizes (aten.sym_size, aten.sym_numel).
CASES = {
    "add_sub_mul_div_rsub": (lambda x, y: (x + y, torch.sub(x, y, alpha=2), x.mul(y), torch.div(x, y.abs() + 1),
                                            torch.rsub(x, 2), x.add(1).sub_(y)), xy, False),
    "floordiv_pow": (lambda x, y: (x // 0.7, torch.floor_divide(x, y.abs() + 1), x.abs() ** 1.5, x.pow(2)), xy, False),
    "maximum_minimum": (lambda x, y: torch.maximum(x, y) + x.minimum(y), xy, False),
    "comparisons": (lambda x, y: torch.stack([x == y, x != 0.1, x < y, torch.gt(x, y), x.le(y), x >= 0.2]).float(),
                    xy, False),
    "bitwise_masks": (lambda a, b, c: ((a & b) | (a ^ c)) & ~torch.bitwise_or(b, c) | torch.bitwise_xor(a, True),
                      lambda: (mask(3, 4, seed=1), mask(3, 4, seed=2), mask(1, 4, seed=3)), False),
    "logical": (lambda x, y: torch.stack([torch.logical_and(x > 0, y), torch.logical_or(x, y < 0),
                                          torch.logical_xor(x > 0.5, y > 0.5), torch.logical_not(x > 0)]), xy, False),
    "where": (lambda x, y: torch.where(x > 0, x, y) + x.where(x > 0.3, 0.0) + torch.where(y > 1, 1.0, y)
                       + torch.masked_fill(x, y > 1, 0.5) + x.clone().masked_fill_(x < 0, 2.0), xy, False),
    "masked_fill_finfo_min": (lambda x, m: x.masked_fill(m, torch.finfo(x.dtype).min).amax(-1),
                              lambda: (r(3, 4), mask(3, 4)), False),
    "unary": (lambda x: (-x, x.abs(), (x.abs() + 1).sqrt(), torch.rsqrt(x.abs() + 1), x.exp(), torch.log(x.abs() + 1),
                         torch.erf(x), torch.reciprocal(x.abs() + 1), torch.floor(x), x.ceil(), torch.sin(x), x.cos()),
              x2, False),
    "attention_bool_mask": (lambda q, m: F.scaled_dot_product_attention(q, q * 0.5, q, attn_mask=m),
                            lambda: (r(2, 3, 4), torch.tensor([[True, True, False]]).expand(3, 3)), False),
    "conv": (lambda x, w, b: (F.conv2d(x, w, b, padding=1), F.conv1d(x[:, :, 0], w[:, :, 0], stride=2),
                              aten.convolution(x, w, b, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)),
             lambda: (r(1, 2, 6, 6), r(3, 2, 3, 3), r(3)), False),
    "conv_transpose": (lambda x, w: F.conv_transpose2d(x, w, stride=2), lambda: (r(1, 2, 4, 4), r(2, 3, 3, 3)), False),
    "linear_addmm": (lambda x, w, b: (F.linear(x, w, b), torch.addmm(b, x, w.t()), b.addmm(x, w.T)),
                     lambda: (r(3, 4), r(5, 4), r(5)), False),
    "matmul": (lambda x, y: (x @ y.mT, torch.mm(x, y.t()), torch.bmm(x[None], y.T[None]), x.matmul(y.T), torch.matmul(x, y.T),
                         x.mm(y.T), x[None].bmm(y.T[None])), xy, False),
    "batch_norm": (lambda x, m, v: (F.batch_norm(x, m, v.abs() + 0.5, eps=1e-3),
                                    aten._native_batch_norm_legit_no_training(x, None, None, m, v.abs() + 0.5, 0.1,
                                                                              1e-5)[0]),
                   lambda: (r(2, 3, 4, 4), r(3), r(3) + 1), False),
    "layer_norm": (lambda x, w: (F.layer_norm(x, (4,), w, w * 0.5), aten.native_layer_norm(x, [4], w, None, 1e-5)[0]),
                   lambda: (r(2, 3, 4), r(4)), False),
    "embedding": (lambda i, w: F.embedding(i, w), lambda: (torch.tensor([[0, 3], [2, 2]]), r(5, 3)), False),
    "pad": (lambda x: F.pad(x, (1, 2, 0, 1)) + F.pad(x, (1, 2, 0, 1), mode="reflect"), img, False),
    "activations": (lambda x: (torch.relu(x), F.relu6(x), x.sigmoid(), F.tanh(x), F.silu(x), F.hardswish(x),
                               F.hardsigmoid(x), F.gelu(x), F.leaky_relu(x, 0.2), F.elu(x), F.softplus(x, 2),
                               F.hardtanh(x, -0.5, 0.5), x.clone().relu_(), F.sigmoid(x), torch.tanh(x)),
                    x2, False),
    "prelu": (lambda x, w: F.prelu(x, w), lambda: (r(1, 2, 3, 3), r(2)), False),
    "clamp": (lambda x: (torch.clamp(x, -0.5, 0.5), x.clip(min=0.1), torch.clamp_min(x, 0.2), x.clamp_max(0.3),
                        torch.clip(x, max=0.2), x.clamp(-0.1), x.clone().clamp_(max=0.1), x.clone().clip_(0.1),
                        x.clamp_min(0.0), torch.clamp_max(x, 0.0)),
              x2, False),
    "softmax": (lambda x: (F.softmax(x, -1), torch.softmax(x, 0), x.softmax(1), aten._softmax(x, 1, False),
                           F.log_softmax(x, -1), x.log_softmax(0), torch.log_softmax(x, 1), aten._log_softmax(x, 0, False)), x2, False),
    "sizes": (lambda x: (x.view(x.size(0), -1) * x.numel(), x.reshape(x.shape[0], x.dim(), -1), x[0].T, x.mT),
              lambda: (r(2, 3, 4),), True),
    "slices": (lambda x: (x[:, 1:3, ..., None][..., 0], x[0, :, ::2], x.narrow(1, 1, 2), torch.select(x, 2, -1), torch.narrow(x, 2, 0, 3), x.select(0, 1),
                          torch.index_select(x, 2, torch.tensor([3])),
                          x.index_select(1, torch.tensor([2, 0]))), lambda: (r(2, 3, 4),), False),
    "index_tensors": (lambda x: (x[torch.arange(2)[:, None], torch.tensor([[0, 2, 1]])], x[:, torch.tensor([1, 1])],
                                 x[torch.tensor([1, 0]), :, torch.tensor([3, 0])], x[1, torch.tensor([0, 2]), 1:3:2],
                                 x[torch.tensor([[1], [0]]), 1:, -1]), lambda: (r(2, 3, 4),), False),
    "gather": (lambda x, i: (torch.gather(x, 1, i), x.gather(0, i[:, :2] % 2)),
               lambda: (r(2, 3), torch.tensor([[2, 0, 1, 1], [0, 0, 2, 1]])), False),
    "pools": (lambda x: (F.max_pool2d(x, 2), F.max_pool1d(x[0], 2), F.max_pool2d(x, 2, return_indices=True)[0],
                         F.max_pool1d(x[0], 3, return_indices=True)[0],
                         F.avg_pool2d(x, 3, 1, 1), torch.avg_pool1d(x[0], 2), F.adaptive_avg_pool2d(x, 2),
                         torch.adaptive_avg_pool1d(x[0], 1), F.adaptive_max_pool2d(x, 1)), img, False),
    "interpolate": (lambda x: (F.interpolate(x, scale_factor=2), F.interpolate(x, size=(9, 9), mode="bilinear")),
                    img, False),
    "constructors": (lambda x: (x + torch.zeros(x.shape[1]) + torch.ones(4) + x.new_zeros(4) + x.new_ones(3, 4)
                                + x.new_full((4,), 0.5) + torch.full((3, 4), 2.0) + torch.ones(3, 4) + torch.zeros_like(x)
                                + torch.ones_like(x) + torch.full_like(x, 3.0) + torch.arange(4) + torch.arange(1, 9, 2)
                                + torch.arange(end=4) + torch.arange(1, end=9, step=2)),
                     x2, False),
    "constructors_dynamic": (lambda x: (torch.zeros(x.size(0), 4) + torch.ones(x.size(0), 1) + torch.full((x.size(0), 1), 2.0)
                                        + torch.arange(x.size(0))[:, None]
                                        + torch.arange(0, x.size(0) * 2, 2).float()[:, None]
                                        + torch.arange(end=x.size(0), dtype=torch.float32)[:, None] + x.new_ones(x.shape) * x.numel() / torch.numel(x) * x.nelement() * x.ndimension()), x2,
                             True),
    "reductions": (lambda x: (x.mean((1, 2)), torch.sum(x, 1, keepdim=True), x.amax(-1), torch.amin(x, 0),
                              torch.max(x, 1)[0], x.min(), torch.max(x, x * 0.5), x.argmax(1), torch.argmin(x, -1),
                              x.amin(1), x.argmin(), x.max(), torch.min(x, 2).values, torch.mean(x), x.sum(),
                              torch.amax(x, (0, 1)), torch.argmax(x, 0)),
                   lambda: (r(2, 3, 4),), False),
    "norms": (lambda x: (F.normalize(x, dim=-1), torch.linalg.vector_norm(x, dim=1), x.norm(dim=-1, keepdim=True),
                         torch.norm(x), torch.linalg.vector_norm(x, 1, dim=0), torch.linalg.vector_norm(x, math.inf, -1),
                         torch.linalg.vector_norm(x, 3, dim=-1), aten.norm(x, 2, [1])), x2, False),
    "cumsum": (lambda x: (torch.cumsum(x, 1), x.cumsum(0), torch.cumsum(x > 0, dim=-1)), x2, False),
    "casts_and_copies": (lambda x: (x.to(torch.float64), x.double().float(), (x * 4).int().long(), x.clone().detach(),
                                    x.contiguous(), x.type_as(x.half()), (x > 0).bool(), F.dropout(x, 0.5, False), torch.clone(x),
                                    torch.detach(x), x.cpu(), x.type(torch.float64), F.dropout1d(x, training=False),
                                    F.dropout2d(x[None, None], training=False), F.alpha_dropout(x, 0.5, False)),
                         x2, False),
    # internal ATen spellings that decompositions produce, called directly
    "aten_internals": (lambda x: (aten._to_copy(x, dtype=torch.float64), aten._unsafe_view(x, [4, 3]), aten.alias(x),
                                  aten.constant_pad_nd(x, [1, 1], 0.5), aten.contiguous(x),
                                  aten._adaptive_avg_pool2d(x[None, None], [1, 1]), aten._prelu_kernel(x, x[:1, :1]),
                                  aten.feature_alpha_dropout(x[None], 0.5, False), x * aten.numel(x)), x2, False),
    "reshapes": (lambda x: (x.reshape(4, 6), torch.reshape(x, (-1,)), x.view(2, -1), x.view_as(x.reshape(4, 6)),
                            x.reshape_as(x.reshape(6, 4)), x.flatten(1), torch.flatten(x), torch.unflatten(x, 2, (2, 2)),
                            x.unflatten(-1, (4, 1))), lambda: (r(2, 3, 4),), False),
    "permutes": (lambda x: (x.permute(2, 0, 1), torch.permute(x, (1, 2, 0)), x.transpose(0, 2), torch.swapaxes(x, 1, 2), torch.transpose(x, 0, 1), x.swapaxes(0, 1),
                            x[0].t(), torch.t(x[1]), x.unsqueeze(1).squeeze(1), torch.squeeze(x[:, :1], 1),
                            torch.unsqueeze(x, -1)), lambda: (r(2, 3, 4),), False),
    "joins_and_splits": (lambda x: (torch.cat([x, x * 2], 1), torch.stack([x, -x], 0), torch.split(x, [1, 2], 1)[1],
                                    x.split(2, -1)[0], torch.chunk(x, 2, -1)[1], x.unbind(1)[2], torch.concat([x, x], 2),
                                    torch.concatenate([x, x]), torch.unbind(x)[1], x.chunk(3, 1)[2],
                                    x.split_with_sizes([3, 1], 2)[1]),
                         lambda: (r(2, 3, 4),), False),
    "expand_repeat": (lambda x, y: (x[:, :1].expand(-1, 3, 4), x[:, :1].expand_as(x), y.expand(2, 3, 4),
                                    x.repeat(1, 2, 1), y.repeat(2, 1)),
                      lambda: (r(2, 3, 4), r(3, 4)), False),
    "expand_as_dynamic": (lambda x, m: x * m[:, :, None].float().expand_as(x), lambda: (r(2, 3, 4), mask(2, 3)), True),
}


# Ops of one signature whose handlers' every spelling (torch function, Tensor method,
# operator; the ATen ones are what export records) one generated case applies.
FAMILIES = {
    "unary": ([aten.neg, aten.abs, aten.sqrt, aten.rsqrt, aten.exp, aten.log, aten.erf, aten.reciprocal, aten.floor,
               aten.ceil, aten.sin, aten.cos, aten.relu, aten.sigmoid, aten.tanh], lambda: (r(3, 4).abs() + 0.5,)),
    "binary": ([aten.add, aten.sub, aten.mul, aten.div, aten.floor_divide, aten.pow, aten.remainder, aten.maximum,
                aten.minimum, aten.eq, aten.ne, aten.lt, aten.gt, aten.le, aten.ge],
               lambda: (r(3, 4).abs() + 0.5, r(3, 4).abs() + 0.5)),
    "bool_unary": ([aten.bitwise_not, aten.logical_not], lambda: (mask(3, 4),)),
    "bool_binary": ([aten.bitwise_and, aten.bitwise_or, aten.bitwise_xor, aten.logical_and, aten.logical_or,
                     aten.logical_xor], lambda: (mask(3, 4, seed=1), mask(3, 4, seed=2))),
}


def _spellings(packet) -> list:
    """Every non-ATen spelling of the handler of `packet`: callables and method names
    (math.* take Python numbers only)."""
    handler = FUNCTIONS[packet]
    functions = [t for t, h in FUNCTIONS.items() if h is handler and not isinstance(t, torch._ops.OpOverloadPacket)
                 and getattr(t, "__module__", None) != "math"]
    return functions + [m for m, h in METHODS.items() if h is handler]


def _apply(spelling, args):
    if isinstance(spelling, str):  # in-place methods on a copy
        return getattr(args[0].clone() if spelling.endswith("_") else args[0], spelling)(*args[1:])
    if getattr(spelling, "__name__", "").startswith("i") and getattr(spelling, "__module__", None) == "_operator":
        return spelling(args[0].clone(), *args[1:])  # operator.iadd and the like
    return spelling(*args)


def _family_case(packets):
    spellings = [s for p in packets for s in _spellings(p)]
    return lambda *args: tuple(_apply(s, args) for s in spellings)


for _name, (_packets, _inputs) in FAMILIES.items():
    CASES[f"spellings_{_name}"] = (_family_case(_packets), _inputs, False)


def _module(fn, n: int) -> nn.Module:
    return (Fn1, Fn2, Fn3)[n - 1](fn)


@functools.lru_cache(maxsize=None)
def captured(case: str, capture: str) -> fx.GraphModule:
    fn, make_inputs, dynamic = CASES[case]
    inputs = make_inputs()
    if capture == "export":
        return export_trace(_module(fn, len(inputs)), inputs, _symbols(inputs, dynamic))
    return symbolic_trace(_module(fn, len(inputs)), inputs, tuple(MODULES))


def _symbols(inputs, dynamic: bool) -> list:
    return [{0: "N"} if dynamic else {} for _ in inputs]


@pytest.mark.parametrize("capture", ["export", "fx"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_torch(case, capture):
    fn, make_inputs, dynamic = CASES[case]
    inputs = make_inputs()
    gm, symbols = captured(case, capture), _symbols(inputs, dynamic)
    with torch.no_grad():
        propagate(gm, inputs, symbols)
    graph = Converter(gm, case, len(inputs), symbols).run()
    verify(graph)
    assert_faithful(graph, _module(fn, len(inputs)), inputs, tol=1e-5)
    if dynamic:  # one more sample on the symbolic batch
        assert_faithful(graph, _module(fn, len(inputs)), tuple(torch.cat([x, x[:1]]) for x in inputs), tol=1e-5)


def _reached(capture: str) -> dict:
    """handler -> the spellings through which the cases reach it."""
    reached: dict = {}
    for case in CASES:
        for node in captured(case, capture).graph.nodes:
            if node.op == "call_function" and not is_guard(node):
                handler = function_handler(node.target)
            elif node.op == "call_method":
                handler = METHODS.get(node.target)
            else:
                continue
            reached.setdefault(handler, set()).add(describe(node.target))
    return reached


def test_every_handler_is_reached():
    by_export, by_fx = _reached("export"), _reached("fx")
    handlers = set(FUNCTIONS.values()) | set(METHODS.values())
    has_aten = {h for t, h in FUNCTIONS.items() if isinstance(t, torch._ops.OpOverloadPacket)}
    missing = [h for h in handlers if h not in by_export and h not in by_fx]
    assert not missing, f"no case reaches {[f'{h.__module__}.{h.__qualname__}' for h in missing]}"
    unexported = [h for h in has_aten - set(by_export)]
    assert not unexported, f"no torch.export case reaches {[f'{h.__module__}.{h.__qualname__}' for h in unexported]}"
