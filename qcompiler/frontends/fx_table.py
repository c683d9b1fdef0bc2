"""The torch → IR mapping table, filled by the fx_ops_* / fx_modules / fx_attention modules.

One handler serves every spelling of an op: the torch function, the Tensor method, the
operator and the ATen op that torch.export records (`@converts(torch.relu, F.relu,
aten.relu, methods=["relu", "relu_"])`). A handler is called as
`fn(cx, *args, **kwargs)` with the fx node's arguments, in which tensors are already IR
values (see `fx_convert.Converter` for `cx`). Module handlers get the module first:
`fn(cx, module, *args, **kwargs)`.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch

aten = torch.ops.aten

FUNCTIONS: dict = {}  # callable or ATen overload packet -> handler
METHODS: dict = {}  # Tensor method name -> handler
MODULES: dict = {}  # exact nn.Module type -> handler


def converts(*targets, methods: tuple = ()):
    def deco(fn: Callable) -> Callable:
        for t in targets:
            FUNCTIONS[t] = fn
        for name in methods:
            METHODS[name] = fn
        return fn

    return deco


def converts_module(*types):
    def deco(fn: Callable) -> Callable:
        for t in types:
            MODULES[t] = fn
        return fn

    return deco


def function_handler(target):
    if not isinstance(target, torch._ops.OpOverload):
        return FUNCTIONS.get(target)
    name = target.overloadpacket.__name__
    if name.endswith("_") and not name.startswith("_"):  # in-place ATen ops convert like their pure forms
        return FUNCTIONS.get(getattr(aten, name[:-1], None))
    return FUNCTIONS.get(target.overloadpacket)


def describe(target) -> str:
    """The public spelling of a call target, e.g. 'torch.fft.fft' or 'aten.nonzero'."""
    if isinstance(target, str):
        return f"Tensor.{target}"
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target.overloadpacket.__name__}"
    if isinstance(target, torch._ops.OpOverloadPacket):
        return f"aten.{target.__name__}"
    name = _public_names().get(id(target))
    if name:
        return name
    return f"{getattr(target, '__module__', None) or '?'}.{getattr(target, '__name__', repr(target))}"


@functools.lru_cache(maxsize=1)
def _public_names() -> dict:
    import operator

    names = {}
    for mod in (operator, torch, torch.nn.functional, torch.fft, torch.linalg, torch.special):
        for attr, obj in vars(mod).items():
            if not attr.startswith("_") and callable(obj):
                names.setdefault(id(obj), f"{mod.__name__}.{attr}")
    return names
