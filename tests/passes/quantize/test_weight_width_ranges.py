"""A weight's range is the one for the width it is stored in: calibrate records the width
it computed ranges for (`q.range_bits`), and quantize derives them again, with the same
method, when the storage width differs (the pass option, or a layer's `q.bits`)."""
import numpy as np
import pytest

from quantize_graphs import data_for, quantized, single_layer
from qcompiler.passes.calibration.weight_ranges import weight_range
from qcompiler.passmanager import PassContext, run_pipeline


def conv():
    return single_layer("conv2d", ("N", 8, 6, 6), (6, 8, 3, 3), seed=3)


def weight_scales(graph) -> np.ndarray:
    return graph.find("y").producer.inputs[1].type.scale.array


def test_calibrate_records_the_width_of_its_weight_ranges():
    g, _ = quantized(conv(), "calibrate{method=mse,weight_bits=4}")
    assert g.find("w").producer.attrs["q.range_bits"] == 4


@pytest.mark.parametrize("storage, bits", [("i2", 2), ("i3", 3), ("i4", 4), ("i5", 5), ("i6", 6)])
def test_quantize_derives_mse_ranges_for_the_storage_width(storage, bits):
    implicit, _ = quantized(conv(), f"calibrate{{method=mse}},quantize{{weights={storage}}}")
    explicit, _ = quantized(conv(), f"calibrate{{method=mse,weight_bits={bits}}},quantize{{weights={storage}}}")
    eight_bit, _ = quantized(conv(), "calibrate{method=mse}")
    # equal but for the float32 rounding of the recorded q.range
    np.testing.assert_allclose(weight_scales(implicit), weight_scales(explicit), rtol=1e-6)
    r8 = eight_bit.find("w").producer.attrs["q.range"].array
    qmax = 2 ** (bits - 1) - 1
    assert not np.allclose(weight_scales(implicit), np.abs(r8).max(axis=1) / qmax)  # not the 8-bit clipping


def test_a_layer_width_set_after_calibrate_gets_its_own_range():
    # allocate-bits writes q.bits after calibrate ran at 8 bits
    g = conv()
    run_pipeline(g, "calibrate{method=mse}", PassContext(calibration=data_for(g)))
    g.find("y").producer.attrs["q.bits"] = 4
    run_pipeline(g, "quantize", PassContext())
    w = g.find("w").producer.meta["float_value"]
    lo, hi = weight_range(w, "mse", 4, True, axis=0)
    np.testing.assert_allclose(weight_scales(g), np.maximum(-lo, hi) / 7, rtol=1e-6)


def test_min_max_ranges_do_not_depend_on_the_width():
    low, _ = quantized(conv(), "calibrate{method=minmax},quantize{weights=i4}")
    w = low.find("w").producer.meta["float_value"]
    np.testing.assert_allclose(weight_scales(low), np.abs(w).reshape(6, -1).max(axis=1) / 7, rtol=1e-6)


def test_reduce_range_weights_get_the_mse_range_of_their_seven_bits():
    # x86-avx2 keeps i8 weights in [-64, 63] (u8 x s8 pair sums saturate): calibrate's
    # 8-bit MSE clipping is too tight for a grid with half the levels
    g, _ = quantized(conv(), "calibrate{method=mse},quantize", target="x86-avx2")
    assert g.find("y").producer.attrs["q.reduce_range"]
    w = g.find("w").producer.meta["float_value"]
    lo7, hi7 = weight_range(w, "mse", 7, True, axis=0)
    # the symmetric scale maps max|range| onto 63 levels (params_in); at 7 and 8 bits these
    # normal weights keep min/max (no clip gains mse.py's WEIGHT_MIN_GAIN_DB), so the
    # 7-bit search is told apart by the 63 levels, not by a different clip
    np.testing.assert_allclose(weight_scales(g), np.maximum(-lo7, hi7) / 63, rtol=1e-6)
