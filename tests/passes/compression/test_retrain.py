"""The re-training student: frozen weights do not move, free ones and biases do;
regression labels train with mean squared error."""
import numpy as np
import pytest
import torch

from compression_graphs import linear_graph, spectrum_matrix
from qcompiler.passes.compression.labelled_data import labelled_batches
from qcompiler.passes.compression.layers import layer_weights
from qcompiler.passes.compression.retrain import Student, Trainer
from qcompiler.passmanager import PassContext, PassError, PassManager


def regression(seed=0):
    """A linear graph and (x, y) batches of a nearby linear map, as float labels."""
    rng = np.random.default_rng(seed)
    graph = linear_graph(spectrum_matrix(6, 10, 0.8))
    target = graph.const_value(graph.find("w")) + 0.3 * rng.standard_normal((6, 10))
    x = rng.standard_normal((256, 10)).astype(np.float32)
    y = (x @ target.T).astype(np.float32)
    return graph, [(x[s:s + 32], y[s:s + 32]) for s in range(0, 256, 32)]


def test_frozen_weights_stay_exact_while_the_rest_trains():
    graph, data = regression()
    weights = layer_weights(graph)
    student = Student(graph, weights, "test")
    trainer = Trainer(student, labelled_batches(data, graph, 32, "test"), 1e-2, 0, "test")
    w0, b0 = student.array("w"), student.array("b")
    frozen = np.zeros(w0.shape, bool)
    frozen[:, :5] = True
    student.set_weight("w", w0, frozen)
    before = trainer.loss()
    trainer.train(3)
    w1 = student.array("w")
    assert np.array_equal(w1[frozen], w0[frozen])
    assert np.all(w1[~frozen] != w0[~frozen]) and not np.array_equal(student.array("b"), b0)
    assert trainer.loss() < before
    assert np.array_equal(graph.const_value(graph.find("w")), w0)  # the graph itself is untouched


def test_slq_with_regression_labels_trains_on_mean_squared_error():
    losses = {}
    for epochs in (0, 3):
        graph, data = regression()
        pm = PassManager(f"slq{{bits=4,epochs={epochs},lr=0.01}}")
        pm.run(graph, PassContext(calibration=data))
        rounds = pm.history[0].stats["rounds"]
        losses[epochs] = rounds[-1]["loss"]
    # half the weights freeze before any training, so re-training can only fit so much
    assert losses[3] < 0.65 * losses[0], losses


def test_the_students_parameters_are_the_weights_and_their_biases_only():
    graph, _ = regression()
    student = Student(graph, layer_weights(graph), "test")
    assert set(student.params) == {"w", "b"}
    assert {name for name, _ in student.module.named_parameters()} == {"compressed_weight_0", "compressed_bias_1"}
    assert all(isinstance(p, torch.nn.Parameter) for p in student.params.values())


def test_labels_that_do_not_fit_the_output_are_named():
    graph, data = regression()
    bad = [(x, y[:, :3]) for x, y in data]
    with pytest.raises(PassError, match=r"float labels of shape \[32, 3\] differ from the graph output's \[32, 6\]"):
        PassManager("slq{epochs=1}").run(graph, PassContext(calibration=bad))
    graph, data = regression()
    classes = [(x, np.zeros((len(x), 1), np.int64)) for x, _ in data]
    with pytest.raises(PassError, match=r"class labels of shape \[32, 1\] do not fit the graph output of shape"):
        PassManager("slq{epochs=1}").run(graph, PassContext(calibration=classes))
