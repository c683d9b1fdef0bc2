"""The `calibrate` and `calibrate-weights` passes on a hand-built linear-relu-linear graph."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from calibration_graphs import mlp
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import f32
from qcompiler.ir.verifier import verify
from qcompiler.passes.calibration import Calibrate, CalibrationError
from qcompiler.passmanager import PassContext, PassError, PipelineError, run_pipeline
from qcompiler.runtime.reference import run_graph
from qcompiler.targets.target import get_target

DATA = np.random.default_rng(1).normal(size=(96, 4)).astype(np.float32)


def _calibrate(graph, data, pipeline="calibrate", **ctx):
    run_pipeline(graph, pipeline, PassContext(calibration=data, **ctx))
    verify(graph)
    return graph


def _f32_pair(lo, hi):
    return [np.float32(lo), np.float32(hi)]


def test_minmax_records_the_observed_range_of_every_value():
    g = _calibrate(mlp(), DATA, "calibrate{batch=10}")
    _, env = run_graph(mlp(), [DATA], keep=True)
    for node in g.nodes:
        if node.op == "const":
            continue
        v = env[node.output.name]
        assert _f32_pair(*node.attrs["q.range"]) == _f32_pair(v.min(), v.max()), node
        assert node.attrs["q.method"] == "minmax"
    assert _f32_pair(*g.input_attrs["x"]["q.range"]) == _f32_pair(DATA.min(), DATA.max())
    assert g.find("r").producer.attrs["q.range"][0] == 0.0


def test_weights_get_per_channel_ranges_and_biases_none():
    g = _calibrate(mlp(), DATA)
    w1 = g.find("w1").producer
    expected = np.stack([w1.attrs["value"].array.min(axis=1), w1.attrs["value"].array.max(axis=1)], axis=1)
    assert w1.attrs["q.range"] == Dense(expected.astype(np.float32))
    assert g.find("w2").producer.attrs["q.range"].shape == (3, 2)
    assert "q.range" not in g.find("b1").producer.attrs


def test_per_tensor_weight_granularity():
    g = _calibrate(mlp(), DATA, "calibrate{granularity=tensor}")
    w = g.find("w2").producer.attrs["value"].array
    assert _f32_pair(*g.find("w2").producer.attrs["q.range"]) == _f32_pair(w.min(), w.max())


def test_dataloader_and_list_and_dict_give_the_same_ranges_as_one_array():
    reference = _calibrate(mlp(), DATA, "calibrate{batch=16}")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(DATA),
                                                                        torch.zeros(96)), batch_size=16)
    for data in (loader, [DATA[i:i + 16] for i in range(0, 96, 16)], {"x": torch.from_numpy(DATA)},
                 (s for s in DATA)):
        g = _calibrate(mlp(), data)
        for name in ("h", "r", "y"):  # equal up to float rounding of different batch shapes
            np.testing.assert_allclose(g.find(name).producer.attrs["q.range"],
                                       reference.find(name).producer.attrs["q.range"], rtol=1e-6)


def test_samples_limits_the_data_seen():
    g = _calibrate(mlp(), DATA, "calibrate{samples=10,batch=4}")
    assert _f32_pair(*g.input_attrs["x"]["q.range"]) == _f32_pair(DATA[:10].min(), DATA[:10].max())


@pytest.mark.parametrize("method", ["percentile", "kl", "mse"])
def test_histogram_methods_stay_within_the_observed_range(method):
    g = _calibrate(mlp(), DATA, f"calibrate{{method={method}}}")
    minmax = _calibrate(mlp(), DATA)
    for name in ("h", "r", "y"):
        lo, hi = g.find(name).producer.attrs["q.range"]
        mlo, mhi = minmax.find(name).producer.attrs["q.range"]
        assert min(mlo, 0) <= lo <= hi <= mhi
        assert g.find(name).producer.attrs["q.method"] == method


def test_kl_calibrates_weights_with_mse_and_q_bits_overrides_the_width():
    g = mlp()
    g.find("y").producer.attrs["q.bits"] = 2
    _calibrate(g, DATA, "calibrate{method=kl,weight_bits=8}")
    w2 = g.find("w2").producer
    assert w2.attrs["q.method"] == "mse"
    w = w2.attrs["value"].array
    two_bit = w2.attrs["q.range"].array
    assert np.all(np.abs(two_bit).max(axis=1) < np.abs(w).max(axis=1))  # 2 bits clip hard


def test_binary_weights_get_their_extremes_whatever_the_method():
    g = mlp()
    g.find("y").producer.attrs["q.bits"] = 1  # allocate-bits can choose b1 (channel groups)
    _calibrate(g, DATA, "calibrate{method=mse}")
    w2 = g.find("w2").producer
    w = w2.attrs["value"].array
    assert w2.attrs["q.method"] == "minmax"
    assert np.array_equal(w2.attrs["q.range"].array, np.stack([w.min(axis=1), w.max(axis=1)], axis=1))


def test_symmetric_activations_follow_the_target():
    symmetric = replace(get_target("generic"), activation_symmetric=True)
    every_clip = "calibrate{method=mse,clip_gain_db=0}"  # the default keeps min/max where a clip gains little
    asym = _calibrate(mlp(), DATA, every_clip, target=replace(symmetric, activation_symmetric=False))
    sym = _calibrate(mlp(), DATA, every_clip, target=symmetric)
    assert sym.find("h").producer.attrs["q.range"] != asym.find("h").producer.attrs["q.range"]


def test_weight_calibration_needs_no_data():
    g = mlp()
    run_pipeline(g, "calibrate-weights{method=mse,bits=4}", PassContext())
    assert g.find("w1").producer.attrs["q.method"] == "mse"
    assert "q.range" not in g.find("h").producer.attrs


def test_missing_data_says_calibration_needs_data():
    with pytest.raises(PassError, match=r"calibrate needs calibration data: pass calibration="):
        _calibrate(mlp(), None)


def test_wrong_shape_names_the_input_and_the_expected_shape():
    with pytest.raises(CalibrationError, match=r"input %x .* has shape \[8, 3\], expected \['N', 4\]"):
        Calibrate().run(mlp(), PassContext(calibration=np.zeros((8, 3), np.float32)))
    with pytest.raises(CalibrationError, match=r"input %x takes batches of 4 samples"):
        Calibrate().run(mlp(batch=4), PassContext(calibration=DATA[:3]))


def test_wrong_dtype_and_input_count_are_named():
    with pytest.raises(CalibrationError, match=r"input %x .* has dtype int64, expected f32"):
        Calibrate().run(mlp(), PassContext(calibration=np.zeros((8, 4), np.int64)))
    with pytest.raises(CalibrationError, match=r"missing \['x'\], unknown \['y'\]"):
        Calibrate().run(mlp(), PassContext(calibration={"y": DATA}))


def test_nan_in_data_names_the_input():
    bad = DATA.copy()
    bad[40, 2] = np.nan
    with pytest.raises(CalibrationError, match=r"input %x \(batch 1\) contains NaN"):
        Calibrate(batch=32).run(mlp(), PassContext(calibration=bad))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("method", ["minmax", "percentile", "kl", "mse"])  # histograms check in their own pass
def test_non_finite_activation_names_the_node(method):
    g = mlp()
    w1 = g.find("w1").producer
    w1.attrs["value"] = Dense(np.full((5, 4), 1e38, np.float32))  # overflows to inf in linear
    with pytest.raises(CalibrationError, match=r"node 'linear' \(%h\) produced Inf in %h"):
        Calibrate(method=method, weight_method="minmax").run(g, PassContext(calibration=DATA))


def test_bad_options_are_pipeline_errors():
    with pytest.raises(PipelineError, match="unknown method 'entropy'"):
        run_pipeline(mlp(), "calibrate{method=entropy}", PassContext(calibration=DATA))
    with pytest.raises(PipelineError, match="granularity must be one of tensor, channel"):
        run_pipeline(mlp(), "calibrate{granularity=group:32}", PassContext(calibration=DATA))
    for pipeline in ("calibrate{method=percentile, percentile=101}", "calibrate-weights{percentile=0}"):
        with pytest.raises(PipelineError, match=r"percentile must be in \(0, 100\]"):
            run_pipeline(mlp(), pipeline, PassContext(calibration=DATA))


def test_multi_output_nodes_get_a_list_of_pairs():
    g = Graph("halves")
    x = g.add_input("x", f32("N", 4))
    parts = g.add("split", [x], {"axis": 1, "sizes": [1, 3]}, name="p").outputs
    g.set_outputs(parts)
    _calibrate(g, DATA)
    assert [_f32_pair(*pair) for pair in g.nodes[0].attrs["q.range"]] == [
        _f32_pair(DATA[:, :1].min(), DATA[:, :1].max()), _f32_pair(DATA[:, 1:].min(), DATA[:, 1:].max())]
