"""Labelled batches for re-training: the accepted forms and the errors for data without labels."""
import numpy as np
import pytest
import torch

from compression_graphs import linear_graph, spectrum_matrix
from qcompiler.passes.compression.labelled_data import LabelError, labelled_batches


@pytest.fixture
def graph():
    return linear_graph(spectrum_matrix(3, 4, 0.9))


def data(n=10):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


def test_pairs_a_dataloader_and_a_dict_give_the_same_batches(graph):
    x, y = data()
    pairs = [(x[s:s + 4], y[s:s + 4]) for s in range(0, 10, 4)]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=4)
    forms = [pairs, loader, {"x": x, "labels": y}, [{"x": a, "labels": b} for a, b in pairs]]
    results = [labelled_batches(form, graph, 4, "slq") for form in forms]
    for result in results:
        assert [len(labels) for _, labels in result] == [4, 4, 2]
        for (inputs, labels), (a, b) in zip(result, pairs):
            assert np.array_equal(inputs[0].numpy(), a) and np.array_equal(labels.numpy(), b)
            assert labels.dtype == torch.int64 and inputs[0].dtype == torch.float32


@pytest.mark.parametrize("form, message", [
    (None, "slq re-trains on labelled data: pass calibration="),
    ("x", "calibration data of type ndarray carries no labels"),
    ("batches", r"batch 0 carries no labels \(got ndarray; the graph takes 1 input\)"),
    ("tuples", r"batch 0 carries no labels \(got 1 elements"),
    ("dict", "the calibration dict has no 'labels' entry"),
    ("empty", "the labelled data is empty"),
])
def test_data_without_labels_is_refused_with_the_accepted_forms(graph, form, message):
    x, y = data()
    value = {"x": x, "batches": [x[:4], x[4:]], "tuples": [(x[:4],)], "dict": {"x": x}, "empty": []}.get(form)
    with pytest.raises(LabelError, match=message) as info:
        labelled_batches(value, graph, 4, "slq")
    assert "(x, y)" in str(info.value) or form == "empty"
