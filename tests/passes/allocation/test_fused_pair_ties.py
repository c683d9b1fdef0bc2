"""Depthwise + pointwise ties: on targets that run a depthwise conv and the 1x1 conv
reading it as one kernel (`[fusion] pairs = ["depthwise-pointwise"]`: armv8, cortex-m),
allocate-bits gives each such pair one width; elsewhere the pair may split."""
import pytest

import qcompiler.passes.allocation  # noqa: F401  (registers allocate-bits)
from qcompiler.frontends.fx import import_module
from qcompiler.passes.allocation.fused_pairs import depthwise_pointwise_pairs
from qcompiler.passes.sensitivity.layers import quantizable_layers
from qcompiler.passmanager import PassContext, PassManager, run_pipeline
from qcompiler.testing.zoo import mobilenet_v2_blocks

PROJECTIONS = ["blocks_0_block_8", "blocks_1_block_8", "blocks_2_block_8"]  # 1x1 convs after the depthwise ones


def depthwise(graph) -> list:
    return [layer.name for layer in quantizable_layers(graph) if layer.node.attrs.get("groups", 1) > 1]


def mobilenet(prepare="fold-bn,fuse-activations", squeeze_excite=False):
    """MobileNetV2 blocks whose depthwise convs are very sensitive and whose 1x1
    projections are not: alone, a tight budget splits every pair."""
    model, (x,) = mobilenet_v2_blocks(squeeze_excite=squeeze_excite)
    graph = import_module(model, x)
    run_pipeline(graph, prepare, PassContext())
    for layer in quantizable_layers(graph):
        scores = {"2": 1.0, "4": 0.5, "8": 0.0}
        if layer.node.attrs.get("groups", 1) > 1:
            scores = {"2": 10.0, "4": 5.0, "8": 0.0}
        elif layer.name in PROJECTIONS:
            scores = {"2": 0.0, "4": 0.0, "8": 0.0}
        layer.node.attrs["q.sens"] = scores
    return graph


def allocate(graph, target) -> tuple:
    manager = PassManager("allocate-bits{choices=[2,4,8],budget.size=45%}")
    manager.run(graph, PassContext(target=target))
    bits = {layer.name: layer.node.attrs["q.bits"] for layer in quantizable_layers(graph)}
    return [(bits[dw], bits[pw]) for dw, pw in zip(depthwise(graph), PROJECTIONS)], manager.history[0].stats


def test_depthwise_pointwise_pairs_are_found_fused_or_not():
    for prepare in ("fold-bn,fuse-activations", "fold-bn"):  # relu6 / hardswish fused into the dw conv, or standalone
        graph = mobilenet(prepare)
        layers = quantizable_layers(graph)
        assert [(layers[i].name, layers[j].name) for i, j in depthwise_pointwise_pairs(layers)] == \
            list(zip(depthwise(graph), PROJECTIONS))


def test_a_squeeze_excite_gate_between_them_prevents_the_pair():
    layers = quantizable_layers(mobilenet(squeeze_excite=True))  # the dw result also feeds the gate's mul
    assert depthwise_pointwise_pairs(layers) == []


@pytest.mark.parametrize("prepare", ["fold-bn,fuse-activations", "fold-bn"])
def test_armv8_gives_each_pair_one_width_where_generic_splits_it(prepare):
    generic, generic_stats = allocate(mobilenet(prepare), "generic")
    assert generic == [(8, 2)] * 3 and generic_stats["ties"] == 0
    armv8, armv8_stats = allocate(mobilenet(prepare), "armv8")
    assert all(dw == pw for dw, pw in armv8) and armv8_stats["ties"] == 3
    assert len(set(armv8)) > 1  # the pairs still differ from each other
    assert armv8_stats["objective"] > generic_stats["objective"]  # what deployability costs here
