"""Bit reallocation during qat (QBitOpt, BMPQ) on the bundled digits CNN: the budget
holds at every reallocation, widths stop changing after `freeze_after` of the steps, the
final widths are in the IR and deploy (lower, Numba), the plot is written; options are
checked by name."""
import math

import numpy as np
import pytest
import torch

from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.cli.demo import load_demo_model
from qcompiler.ir.clone import clone
from qcompiler.ir.types import QuantType
from qcompiler.model.loading import load_model
from qcompiler.passes.qat import QAT
from qcompiler.passes.qat.bit_reallocation import last_reallocation_step
from qcompiler.passes.qat.errors import QATError
from qcompiler.passes.quantize.choices import WEIGHT_STORAGE
from qcompiler.passmanager import PassContext, PassManager, PipelineError
from qcompiler.runtime.torch import run_torch
from qcompiler.testing.zoo import digits_data

PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=minmax},quantize{weights=i8,acts=u8}"
BUDGET = 0.45  # of the weight size at 8 bits: forces 8-bit layers down from the start
FINE_MENU = (2, 3, 5, 6, 8)
FREEZE_AFTER = 0.5  # of 2 epochs x 12 batches: widths may change up to step 12, the end of epoch 1


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    x_train, y_train, x_test, _ = digits_data()
    return x_train.numpy()[:384], y_train.numpy()[:384], x_test.numpy()[:64]


class Trained:
    """The graph after qat (fake-quant), its lowered copy, the reallocation history, the
    pass stats and its notes."""

    def __init__(self, digits, bitopt: str, plot=None, choices=(2, 4, 8)):
        x, y, _ = digits
        qat = QAT(epochs=2, lr=1e-3, batch=32, data=(x, y), bitopt=bitopt, budget={"size": f"{BUDGET:.0%}"},
                  every=4, plot=plot, choices=choices, freeze_after=FREEZE_AFTER)
        self.fake_quant_graph = load_model(load_demo_model(), torch.from_numpy(x[:1]), dynamic_batch=True)
        manager, ctx = PassManager([PREPARE, qat]), PassContext(calibration=x[:128])
        manager.run(self.fake_quant_graph, ctx)
        self.stats = manager.history[-1].stats
        self.history = self.stats["bits"]
        self.notes = [d.message for d in ctx.diagnostics]
        self.graph = clone(self.fake_quant_graph)
        PassManager("lower").run(self.graph, PassContext())

    def __call__(self, x):
        return NumbaExecutor(self.graph)([x])[0]


@pytest.fixture(scope="module")
def qbitopt(digits, tmp_path_factory):
    plot = tmp_path_factory.mktemp("bits") / "bits.png"
    return Trained(digits, "qbitopt", str(plot)), plot


@pytest.fixture(scope="module")
def bmpq(digits):
    return Trained(digits, "bmpq")


@pytest.fixture(scope="module")
def qbitopt_fine(digits):
    """QBitOpt over a menu with widths that have no storage type of their own."""
    return Trained(digits, "qbitopt", choices=FINE_MENU)


def trained(method, qbitopt, bmpq, qbitopt_fine) -> Trained:
    return {"qbitopt": qbitopt[0], "bmpq": bmpq, "qbitopt-fine": qbitopt_fine}[method]


def layer_params(graph) -> dict:
    return {n.outputs[0].name: math.prod(n.inputs[1].type.shape) for n in graph.nodes
            if n.op in ("conv2d", "linear") and isinstance(n.inputs[1].type, QuantType)}


@pytest.mark.parametrize("method", ["qbitopt", "bmpq", "qbitopt-fine"])
def test_the_budget_holds_at_every_reallocation(method, qbitopt, bmpq, qbitopt_fine):
    cm = trained(method, qbitopt, bmpq, qbitopt_fine)
    params = layer_params(cm.fake_quant_graph)
    budget = BUDGET * sum(params.values())  # bytes at 8 bits
    entries = cm.history
    # the warm-up allocation before the first step, then every 4 steps (QBitOpt) or at epoch 1's end (BMPQ)
    assert [e["step"] for e in entries] == ([0, 4, 8, 12] if method != "bmpq" else [0, 12])
    assert entries[0]["step"] == 0 and entries[0]["changed"] > 0
    for entry in entries:
        size = sum(params[name] * bits / 8 for name, bits in entry["bits"].items())
        assert size <= budget * (1 + 1e-9), (entry["step"], size, budget)
        assert min(entry["bits"].values()) < 8
    if method == "qbitopt-fine":  # the widths without a container of their own are chosen too
        assert {b for e in entries for b in e["bits"].values()} & {3, 5, 6}, entries
    if method == "bmpq":  # each plane's bit-gradient is twice the one below it
        planes = entries[-1]["bit_gradients"]
        assert set(planes) == set(params) and all(p[0] > 0 for p in planes.values())
        assert all(p[i + 1] == pytest.approx(2 * p[i]) for p in planes.values() for i in range(len(p) - 1))


@pytest.mark.parametrize("method", ["qbitopt", "bmpq", "qbitopt-fine"])
def test_final_widths_are_in_the_ir_and_run_lowered_in_numba(method, qbitopt, bmpq, qbitopt_fine, digits):
    cm = trained(method, qbitopt, bmpq, qbitopt_fine)
    final = cm.history[-1]["bits"]
    fake = cm.fake_quant_graph
    for node in fake.nodes:
        if node.outputs[0].name in final:
            bits = final[node.outputs[0].name]
            assert node.attrs["q.bits"] == bits and node.inputs[1].type.storage == WEIGHT_STORAGE[bits]
            stored = node.inputs[1].producer.attrs["value"].array
            assert -(2 ** (bits - 1)) <= stored.min() and stored.max() <= 2 ** (bits - 1) - 1
    x = digits[2]
    output_step = float(cm.graph.outputs[0].type.scale.array.max())
    assert np.abs(cm(x) - run_torch(fake, [x])[0]).max() <= output_step * 1.001
    assert (cm(x).argmax(1) == run_torch(fake, [x])[0].argmax(1)).mean() > 0.95


@pytest.mark.parametrize("method", ["qbitopt", "bmpq"])
def test_widths_stop_changing_after_freeze_after(method, qbitopt, bmpq, qbitopt_fine):
    cm = trained(method, qbitopt, bmpq, qbitopt_fine)
    assert cm.stats["bits_fixed_after"] == 12
    assert max(e["step"] for e in cm.history) == 12  # none in epoch 2
    fixed = [n for n in cm.notes if "widths fixed from step 13" in n]
    assert len(fixed) == 1 and fixed[0].startswith(f"qat {method}:"), cm.notes


@pytest.mark.parametrize("fraction, steps, last", [(1 / 3, 96, 32), (0.333, 96, 32), (0.5, 24, 12),
                                                   (1.0, 24, 24), (0.01, 24, 0), (0.3, 96, 29)])
def test_the_last_reallocation_step_is_the_fraction_of_the_steps(fraction, steps, last):
    assert last_reallocation_step(fraction, steps) == last


def test_the_plot_is_written(qbitopt):
    path = qbitopt[1]
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("pipeline, option", [
    ("qat{bitopt=hawq}", "bitopt"), ("qat{bitopt=qbitopt}", "budget.size"),
    ("qat{bitopt=qbitopt,budget.bops=50%}", "budget.size"), ("qat{bitopt=bmpq,budget.size=50%,every=0}", "every"),
    ("qat{bitopt=qbitopt,budget.size=50%,choices=[1,8]}", "width 1"),
    ("qat{bitopt=qbitopt,budget.size=50%,freeze_after=0}", "freeze_after"),
    ("qat{bitopt=bmpq,budget.size=50%,freeze_after=1.5}", "freeze_after")])
def test_bitopt_option_errors_name_the_option(pipeline, option):
    with pytest.raises((PipelineError, QATError), match=option):
        PassManager(pipeline)
