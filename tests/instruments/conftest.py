"""A small conv net and unregistered test passes shared by the instrument tests."""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from qcompiler.ir import Graph
from qcompiler.ir.types import f32
from qcompiler.passmanager import Pass, PassResult


def conv_bn_relu_net(seed=0) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph("net")
    x = g.add_input("x", f32(1, 3, 8, 8))
    w = g.constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), origin="conv1.weight", name="w1")
    c = g.add("conv2d", [x, w], {"pad": [1, 1, 1, 1]}, name="conv1").output
    bn = [g.constant(a.astype(np.float32)) for a in (rng.uniform(0.5, 2, 4), rng.standard_normal(4),
                                                      rng.standard_normal(4), rng.uniform(0.5, 2, 4))]
    b = g.add("batch_norm", [c] + bn, name="bn1").output
    r = g.add("relu", [b], name="relu1").output
    w2 = g.constant(rng.standard_normal((2, 4, 1, 1)).astype(np.float32), origin="conv2.weight", name="w2")
    g.set_outputs([g.add("conv2d", [r, w2], name="conv2").output])
    return g


@pytest.fixture
def net():
    return conv_bn_relu_net()


@pytest.fixture
def sample():
    return [np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)]


@dataclass(frozen=True)
class PerturbWeight(Pass):
    """Scales the weight called `weight` by 1.5: a deliberately wrong pass."""

    name: ClassVar[str] = "perturb-weight"
    weight: str = "w2"

    def run(self, graph, ctx):
        v = graph.find(self.weight)
        node = v.producer
        new = graph.constant(graph.const_value(v) * np.float32(1.5), before=node)
        v.replace_all_uses_with(new)
        graph.erase(node)
        return PassResult(True)


@dataclass(frozen=True)
class BreakSSA(Pass):
    """Gives a node result the name of another value, which the verifier must catch."""

    name: ClassVar[str] = "break-ssa"

    def run(self, graph, ctx):
        graph.nodes[-1].output.name = graph.inputs[0].name
        return PassResult(True)


@pytest.fixture
def perturb_weight():
    return PerturbWeight()


@pytest.fixture
def break_ssa():
    return BreakSSA()
