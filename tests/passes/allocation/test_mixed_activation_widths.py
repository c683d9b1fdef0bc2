"""allocate-bits with activation choices -> quantize -> lower on the deep digits CNN: the
chosen input-activation widths are the types the integer layers read, the lowered
graph's BOPs are the allocator's and within its budget, and the Numba backend computes
every stored integer of the mixed 4/8-bit graph exactly as the reference does; so it
does on MobileNet blocks whose tables, products and sums join 4- and 8-bit values."""
import numpy as np
import pytest
import torch

from qcompiler.analysis.macs import macs
from qcompiler.backends.numba import NumbaExecutor
from qcompiler.frontends.fx import import_module
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import quantize
from qcompiler.passes.sensitivity.layers import quantizable_layers
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.allocated_digits import allocated_digits_graph
from qcompiler.testing.zoo import mobilenet_v2_blocks

BUDGET = 0.3  # of the BOPs with every layer at 8-bit weights and activations
PRODUCTS = ("qconv2d", "qlinear")


@pytest.fixture(scope="module")
def allocated():
    return allocated_digits_graph(f"{BUDGET:.0%}")


def layers(graph) -> list:
    return [n for n in graph.nodes if n.op in PRODUCTS]


def test_the_chosen_input_activation_widths_are_the_types_of_the_lowered_layers(allocated):
    graph, ctx, _, _ = allocated
    chosen = [(n.attrs["q.bits"], n.attrs["q.act_bits"]) for n in layers(graph)]
    read = [(n.inputs[1].type.bits, n.inputs[0].type.bits) for n in layers(graph)]
    assert read == chosen and len(chosen) == 7
    assert {a for _, a in chosen} == {4, 8} and {w for w, _ in chosen} == {4, 8}
    assert graph.find("x_q").type.storage == "i4"  # the first conv reads 4-bit inputs: generic has no u4
    assert [d for d in ctx.diagnostics if d.severity == "warning"] == []


def test_the_lowered_bops_are_the_allocations_and_within_the_budget(allocated):
    graph, _, allocation, _ = allocated
    bops = sum(macs(n) * n.inputs[1].type.bits * n.inputs[0].type.bits for n in layers(graph))
    all_8_bit = sum(macs(n) * 8 * 8 for n in layers(graph))
    assert bops == allocation["bops"] and bops <= BUDGET * all_8_bit


def assert_numba_matches_the_reference(graph, x) -> None:
    executor = NumbaExecutor(graph)
    assert executor.fallback_nodes == []
    _, env = run_graph(graph, [x], keep=True)
    got = executor.run_storage([x])
    quantized = [v for n in graph.nodes if n.op != "const" for v in n.outputs if isinstance(v.type, QuantType)]
    assert {"i4", "u8"} <= {v.type.storage for v in quantized}
    for v in quantized:
        np.testing.assert_array_equal(got[v.name], quantize(env[v.name], v.type), err_msg=f"%{v.name}")


def test_numba_computes_every_stored_integer_as_the_reference_does(allocated):
    graph, _, _, x_test = allocated
    assert_numba_matches_the_reference(graph, x_test[:64])


def test_tables_products_and_sums_between_4_and_8_bit_values_are_exact_in_numba():
    model, _ = mobilenet_v2_blocks()
    graph = import_module(model, torch.zeros(1, 3, 16, 16), dynamic_batch=True)
    data = np.random.default_rng(0).standard_normal((16, 3, 16, 16)).astype(np.float32)
    run_pipeline(graph, "fold-bn,fuse-activations,calibrate", PassContext(calibration=data))
    for k, layer in enumerate(quantizable_layers(graph)):
        layer.node.attrs["q.act_bits"] = 4 if k % 2 else 8
    ctx = PassContext()
    run_pipeline(graph, "quantize,lower", ctx)
    assert ctx.diagnostics == []
    assert {"qlut", "qmul", "qadd", "qglobal_avg_pool"} <= set(graph.op_counts())
    assert_numba_matches_the_reference(graph, data[:4])
