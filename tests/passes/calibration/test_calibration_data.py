"""Calibration data in every accepted form, and clear errors for the rest."""
import numpy as np
import pytest
import torch

from calibration_graphs import mlp
from qcompiler.ir.core import Graph
from qcompiler.ir.types import TensorType, f32
from qcompiler.passes.calibration import CalibrationError
from qcompiler.passes.calibration.data import calibration_batches

DATA = np.random.default_rng(2).normal(size=(10, 4)).astype(np.float32)


def _two_inputs() -> Graph:
    g = Graph("pair")
    a, b = g.add_input("a", f32("N", 3)), g.add_input("b", f32("N", 3))
    g.set_outputs([g.add("add", [a, b], name="s").output])
    return g


def _batches(data, graph=None, **kw):
    batches, total = calibration_batches(data, mlp() if graph is None else graph, **kw)
    return list(batches), total


def test_a_whole_array_is_cut_into_batches():
    batches, total = _batches(DATA, batch=4)
    assert total == 3 and [b["x"].shape[0] for b in batches] == [4, 4, 2]
    assert np.array_equal(np.concatenate([b["x"] for b in batches]), DATA)


def test_a_static_batch_size_wins_and_a_partial_tail_is_dropped():
    batches, total = _batches(torch.from_numpy(DATA), mlp(batch=4), batch=3)
    assert total == 2 and [b["x"].shape for b in batches] == [(4, 4), (4, 4)]


def test_samples_cut_the_stream_mid_batch_when_the_batch_dim_is_free():
    batches, _ = _batches([DATA[:4], DATA[4:8], DATA[8:]], samples=6)
    assert [b["x"].shape[0] for b in batches] == [4, 2]
    batches, _ = _batches(DATA, batch=4, samples=5)
    assert [b["x"].shape[0] for b in batches] == [4, 1]


def test_single_samples_get_a_batch_dimension_and_doubles_become_f32():
    batches, _ = _batches([DATA[0].astype(np.float64), DATA[1]])
    assert [b["x"].shape for b in batches] == [(1, 4), (1, 4)]
    assert all(b["x"].dtype == np.float32 for b in batches)


def test_multi_input_batches_as_tuples_dicts_and_loaders():
    a, b, y = (np.full((6, 3), k, np.float32) for k in (1, 2, 3))
    for data in ({"a": a, "b": b}, [(a, b, y)], [{"a": a, "b": b}],
                 torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*map(torch.from_numpy, (a, b, y))),
                                             batch_size=6)):
        (batch,), _ = _batches(data, _two_inputs())
        assert batch["a"].min() == 1 and batch["b"].min() == 2


def test_multi_input_errors_name_the_inputs():
    a = np.zeros((6, 3), np.float32)
    with pytest.raises(CalibrationError, match=r"feeds one input, but graph @pair has 2 \(%a, %b\)"):
        _batches(a, _two_inputs())
    with pytest.raises(CalibrationError, match=r"batch 0 has 1 elements, graph @pair takes 2 inputs \(%a, %b\)"):
        _batches([(a,)], _two_inputs())
    with pytest.raises(CalibrationError, match=r"different numbers of samples along dim 0: \{'a': 6, 'b': 5\}"):
        _batches({"a": a, "b": a[:5]}, _two_inputs())


def test_unusable_data_is_named():
    with pytest.raises(CalibrationError, match="calibration data of type int is not supported"):
        _batches(42)
    with pytest.raises(CalibrationError, match="calibration batch 0 is a str"):
        _batches(["x"])
    with pytest.raises(CalibrationError, match="calibration data is empty"):
        _batches([])
    with pytest.raises(CalibrationError, match="has no inputs"):
        _batches(DATA, Graph("empty"))


def test_integer_data_for_an_integer_input_is_accepted():
    g = Graph("ids")
    ids = g.add_input("ids", TensorType("i64", ("N",)))
    g.set_outputs([ids])
    (batch,), _ = _batches(np.arange(5, dtype=np.int32), g)
    assert batch["ids"].dtype == np.int64
    with pytest.raises(CalibrationError, match=r"input %ids .* has dtype float32, expected i64"):
        _batches(np.zeros(5, np.float32), g)
