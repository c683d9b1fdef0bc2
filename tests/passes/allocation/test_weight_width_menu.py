"""allocate-bits over the menu {2, ..., 8}: widths without a storage type of their own
(3, 5, 6, 7 bits) compete like the others, are costed at their packed width, and
quantize stores what was chosen on that width's grid inside its container."""
import itertools

import numpy as np
import pytest
import torch

from qcompiler.frontends.fx import import_module
from qcompiler.passes.allocation.costs import layer_costs
from qcompiler.passes.quantize.choices import WEIGHT_STORAGE
from qcompiler.passes.sensitivity.layers import quantizable_layers
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.targets import get_target
from qcompiler.testing.zoo import DigitsCNN

MENU = (2, 3, 4, 5, 6, 7, 8)
PARAMS = [72, 1152, 2560]  # DigitsCNN: conv 8x1x3x3, conv 16x8x3x3, linear 10x256
WEIGHT = [5.0, 1.0, 0.2]   # per-layer importance: the quantization noise of b bits goes as 4^-b


def digits_graph():
    graph = import_module(DigitsCNN().eval(), torch.zeros(2, 1, 8, 8), dynamic_batch=True)
    run_pipeline(graph, "fold-bn", PassContext())
    for layer, weight in zip(quantizable_layers(graph), WEIGHT):
        layer.node.attrs["q.sens"] = {str(b): weight * 4.0 ** -b for b in MENU}
    return graph


@pytest.mark.parametrize("fraction", [0.45, 0.5, 0.7])
def test_the_allocation_over_two_to_eight_bits_is_the_exact_optimum(fraction):
    graph = digits_graph()
    budget = fraction * sum(PARAMS)  # bytes at 8 bits = sum(PARAMS)
    run_pipeline(graph, f"allocate-bits{{budget.size={budget},choices=[2,3,4,5,6,7,8]}}", PassContext())
    chosen = [layer.node.attrs["q.bits"] for layer in quantizable_layers(graph)]
    feasible = [c for c in itertools.product(MENU, repeat=3) if np.dot(c, PARAMS) / 8 <= budget]
    best = min(feasible, key=lambda c: sum(w * 4.0 ** -b for w, b in zip(WEIGHT, c)))
    assert chosen == list(best)
    assert set(chosen) - {2, 4, 8}, chosen  # the finer menu is used, not only the containers


def test_sizes_count_the_packed_width_and_quantize_stores_the_choice():
    graph = digits_graph()
    layers = quantizable_layers(graph)
    target = get_target("generic")
    assert [layer_costs(layer, 3, 8, target)["size"] for layer in layers] == [p * 3 / 8 for p in PARAMS]
    run_pipeline(graph, f"allocate-bits{{budget.size={0.5 * sum(PARAMS)},choices=[2,3,4,5,6,7,8]}},calibrate,"
                        "quantize", PassContext(calibration=np.random.default_rng(0).normal(size=(8, 1, 8, 8))
                                                .astype(np.float32)))
    assert len(layers) == 3
    for layer in layers:
        bits, w = layer.node.attrs["q.bits"], layer.node.inputs[1]
        stored = graph.const_value(w)
        assert w.type.storage == WEIGHT_STORAGE[bits]
        assert -2 ** (bits - 1) <= stored.min() and stored.max() <= 2 ** (bits - 1) - 1
