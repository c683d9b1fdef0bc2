"""allocate-bits with activation choices -> quantize -> lower on the deep digits CNN: the
chosen input-activation widths are the types the integer layers read, the lowered
graph's BOPs are the allocator's and within its budget, and the Numba backend computes
every stored integer of the mixed 4/8-bit graph exactly as the reference does."""
import numpy as np
import pytest

from qcompiler.analysis.macs import macs
from qcompiler.backends.numba import NumbaExecutor
from qcompiler.ir.types import QuantType
from qcompiler.numerics.affine import quantize
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.allocated_digits import allocated_digits_graph

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


def test_numba_computes_every_stored_integer_as_the_reference_does(allocated):
    graph, _, _, x_test = allocated
    executor = NumbaExecutor(graph)
    assert executor.fallback_nodes == []
    _, env = run_graph(graph, [x_test[:64]], keep=True)
    got = executor.run_storage([x_test[:64]])
    quantized = [v for n in graph.nodes if n.op != "const" for v in n.outputs if isinstance(v.type, QuantType)]
    assert any(v.type.storage == "i4" for v in quantized)
    for v in quantized:
        np.testing.assert_array_equal(got[v.name], quantize(env[v.name], v.type), err_msg=f"%{v.name}")
