"""The sensitivity pass on the digits CNN: every metric writes finite `q.sens` per layer
and width, the data forms and loss choices, and clear errors for bad options and data."""
import math

import numpy as np
import pytest
import torch

import qcompiler.passes.sensitivity  # noqa: F401  (registers the pass)
from qcompiler.frontends.fx import import_module
from qcompiler.ir.parser import parse
from qcompiler.ir.printer import print_graph
from qcompiler.passmanager import PassContext, PassError, PipelineError, run_pipeline
from qcompiler.testing.zoo import digits_data, train_digits_cnn

METRICS = ("hessian", "fisher", "bit-gradient", "bmpq", "orthogonality", "sqnr")
LAYER_OPS = ["conv2d", "conv2d", "linear"]


@pytest.fixture(scope="module")
def digits():
    x, y, _, _ = digits_data()
    return train_digits_cnn(), x[:128], y[:128]


def graph_of(digits):
    model, x, _ = digits
    graph = import_module(model, x[:4], dynamic_batch=True)
    run_pipeline(graph, "fold-bn", PassContext())
    return graph


def sensitivities(graph, attr="q.sens"):
    return [(n.op, n.attrs[attr]) for n in graph.nodes if attr in n.attrs]


def labelled_batches(x, y, size=32):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_scores_every_layer_and_width(digits, metric):
    _, x, y = digits
    graph = graph_of(digits)
    run_pipeline(graph, f"sensitivity{{metric={metric},samples=96,tol=0.1}}", PassContext(calibration=labelled_batches(x, y)))
    found = sensitivities(graph)
    assert [op for op, _ in found] == LAYER_OPS
    for _, scores in found:
        assert set(scores) == {"2", "4", "8"} and all(math.isfinite(s) for s in scores.values())
        # fewer bits, more damage (bit-gradient's 4- and 8-bit estimates are within gradient noise)
        assert scores["2"] > scores["8"]
        if metric != "bit-gradient":
            assert scores["2"] > scores["4"] > scores["8"]


def test_scores_survive_the_text_form(digits):
    _, x, y = digits
    graph = graph_of(digits)
    run_pipeline(graph, "sensitivity{metric=sqnr,samples=32}", PassContext(calibration=labelled_batches(x, y)))
    blobs = []
    text = print_graph(graph, blobs)
    assert 'q.sens={"2"=' in text
    assert sensitivities(parse(text, blobs)) == sensitivities(graph)


def test_labels_from_options_equal_labels_in_the_batches(digits):
    _, x, y = digits
    in_batches, in_options = graph_of(digits), graph_of(digits)
    run_pipeline(in_batches, "sensitivity{samples=64,tol=0.1}", PassContext(calibration=labelled_batches(x, y)))
    run_pipeline(in_options, "sensitivity{samples=64,tol=0.1}", PassContext(calibration=x, options={"labels": y}))
    assert sensitivities(in_batches) == sensitivities(in_options)


def test_without_labels_the_loss_is_the_kl_to_the_float_outputs(digits):
    _, x, y = digits
    task, kl = graph_of(digits), graph_of(digits)
    run_pipeline(task, "sensitivity{metric=bit-gradient,samples=64}", PassContext(calibration=labelled_batches(x, y)))
    run_pipeline(kl, "sensitivity{metric=bit-gradient,samples=64}", PassContext(calibration=x))
    assert sensitivities(task) != sensitivities(kl)
    # the KL is 0 with its gradient at the float weights: the estimate is ½δᵀHδ > 0
    assert all(s > 0 for _, scores in sensitivities(kl) for s in scores.values())


def test_sqnr_measures_input_activations_when_asked(digits):
    _, x, _ = digits
    graph = graph_of(digits)
    run_pipeline(graph, "sensitivity{metric=sqnr,acts=[4,8],samples=32}", PassContext(calibration=x))
    found = sensitivities(graph, "q.sens_act")
    assert [op for op, _ in found] == LAYER_OPS
    for _, scores in found:
        assert set(scores) == {"4", "8"} and scores["4"] > scores["8"] > 0


def test_a_graph_without_weights_is_left_alone():
    graph = import_module(torch.nn.ReLU(), torch.zeros(2, 3))
    ctx = PassContext(calibration=np.zeros((4, 2, 3), np.float32))
    run_pipeline(graph, "sensitivity", ctx)
    assert "nothing to measure" in str(ctx.diagnostics[0])


@pytest.mark.parametrize("pipeline, message", [
    ("sensitivity{metric=taylor}", "unknown metric 'taylor'"),
    ("sensitivity{bits=[9,8]}", "bits=[9, 8]: weight widths must be among [2, 3, 4, 5, 6, 7, 8, 16, 32]"),
    ("sensitivity{metric=hessian,acts=[8]}", "activation sensitivity is measured by metric=sqnr"),
    ("sensitivity{samples=0}", "samples must be at least 1"),
])
def test_bad_options_are_named(pipeline, message):
    with pytest.raises(PipelineError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_pipeline(graph_of_nothing(), pipeline, PassContext())


def graph_of_nothing():
    return import_module(torch.nn.Linear(2, 2), torch.zeros(1, 2))


@pytest.mark.parametrize("ctx_args, message", [
    ({}, "sensitivity needs data: pass calibration="),
    ({"calibration": np.zeros((8, 1, 8, 8), np.float32), "options": {"labels": np.zeros(3, np.int64)}},
     "8 samples but only 3 labels"),
    ({"calibration": [(np.zeros((8, 1, 8, 8), np.float32), np.zeros(8, np.float32))]},
     r"float labels of shape \[8\] do not match the first output \[8, 10\]"),
    ({"calibration": np.zeros((8, 3), np.float32)}, "sensitivity data: .*shape"),
])
def test_bad_data_is_named(digits, ctx_args, message):
    with pytest.raises(PassError, match=f"pass 'sensitivity' failed.*{message}"):
        run_pipeline(graph_of(digits), "sensitivity{metric=fisher}", PassContext(**ctx_args))
