"""allocate-bits offering "2x4" (two int4 terms, docs/residual.md) beside int4: under a size
budget between all-int4 and all-2x4, the layer whose score drops most per byte takes the
residual form, quantize-residual{select=allocated} writes it, and the stored size is the
one the allocator costed (2 x 4 bits per weight)."""
import numpy as np
import pytest

from qcompiler.ir.core import Graph
from qcompiler.ir.types import f32
from qcompiler.passmanager import PassContext, PipelineError, run_pipeline

# q.sens per layer; "8" stands in for "2x4" (residual_choice.py)
SCORES = {"c": {"4": 0.2, "8": 0.1}, "y": {"4": 1.0, "8": 0.1}}


def conv_and_linear() -> Graph:
    """x[N,2,6,6] -> conv2d (72 weights) -> relu -> flatten -> linear (5 x 288 weights)."""
    rng = np.random.default_rng(0)
    g = Graph("two")
    x = g.add_input("x", f32("N", 2, 6, 6))
    w = g.constant(rng.normal(size=(4, 2, 3, 3)).astype(np.float32), name="w")
    c = g.add("conv2d", [x, w], {"pad": [1, 1, 1, 1]}, name="c").output
    f = g.add("flatten", [g.add("relu", [c], name="r").output], name="f").output
    fw = g.constant(rng.normal(size=(5, 144)).astype(np.float32), name="fw")
    g.set_outputs([g.add("linear", [f, fw], name="y").output])
    return g


def test_a_size_budget_gives_the_layer_that_gains_most_two_int4_terms():
    g = conv_and_linear()
    ctx = PassContext(calibration=np.random.default_rng(1).normal(size=(8, 2, 6, 6)).astype(np.float32))
    run_pipeline(g, "calibrate", ctx)
    for name, scores in SCORES.items():
        g.find(name).producer.attrs["q.sens"] = scores
    all_int4 = (72 + 720) / 2
    budget = all_int4 + 720 / 2 + 10  # room for the linear's second term, not for the conv's too
    run_pipeline(g, f'allocate-bits{{choices=[4,"2x4"], budget.size={budget}}},quantize{{weights=i4}},'
                    'quantize-residual{select=allocated}', ctx)
    conv, linear = g.find("c").producer, g.find("y").producer
    assert linear.attrs.get("q.residual") == 2 and linear.attrs.get("q.residual_terms") == 2
    assert "q.residual" not in conv.attrs and "q.residual_terms" not in conv.attrs
    assert linear.inputs[1].type.storage == "i4" and linear.inputs[1].type.shape == (5, 288)
    size = sum(n.inputs[1].type.numel() * 4 / 8 for n in (conv, linear))
    assert size == all_int4 + 720 / 2 <= budget


@pytest.mark.parametrize("options, message", [('choices=[4,"9x4"]', "residual weights are 2..4 terms"),
                                              ('choices=[4,"2x4"], granularity="channel:4"', "chosen per layer")])
def test_bad_residual_choices_are_named(options, message):
    with pytest.raises(PipelineError, match=message):
        run_pipeline(Graph("empty"), f"allocate-bits{{{options}}}")
