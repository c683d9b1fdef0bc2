"""Weight widths without a storage type of their own (3, 5, 6, 7 bits): quantize keeps
each on its own grid inside the next container (i4 for 3 bits, i8 for 5 to 7), writes
the width as the layer's `q.bits`, and the readers of the stored integers (adaround,
qat) take the width's range from it (choices.stored_levels)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantize_graphs import data_for, quantized, single_layer
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import STORAGE_RANGES
from qcompiler.numerics.affine import dequantize
from qcompiler.passes.quantize.choices import WEIGHT_STORAGE, stored_levels, weight_levels

NEW_WIDTHS = (3, 5, 6, 7)


@settings(max_examples=24, deadline=None)
@given(bits=st.sampled_from(NEW_WIDTHS), symmetric=st.booleans(), granularity=st.sampled_from(["channel", "tensor"]),
       seed=st.integers(0, 2 ** 16), spread=st.floats(0.01, 100.0))
def test_a_width_is_stored_on_its_grid_and_dequantizes_within_half_a_step(bits, symmetric, granularity, seed,
                                                                          spread):
    g = single_layer("linear", ("N", 12), (6, 12), seed=seed)
    w = g.find("w")
    original = g.const_value(w).astype(np.float64) * spread
    w.producer.attrs["value"] = Dense(original.astype(np.float32))
    pipeline = f"calibrate{{method=minmax}},quantize{{weights=i{bits},granularity={granularity}," \
               f"symmetric={str(symmetric).lower()}}}"
    g, ctx = quantized(g, pipeline, data=data_for(g, n=8))
    w, layer = g.find("w"), g.find("y").producer
    stored = g.const_value(w).astype(np.int64)
    qmin, qmax = -2 ** (bits - 1), 2 ** (bits - 1) - 1
    assert w.type.storage == WEIGHT_STORAGE[bits] and layer.attrs["q.bits"] == bits
    assert "q.reduce_range" not in layer.attrs and stored_levels(layer, w.type.storage) == (qmin, qmax)
    assert qmin <= stored.min() and stored.max() <= qmax
    per_row = stored.reshape(6, -1)
    assert max(len(np.unique(r)) for r in per_row) <= 2 ** bits
    # minmax ranges: nothing is clipped, so every weight is within half a step of its integer
    scale = np.broadcast_to(w.type.scale.array.reshape(-1, 1) if w.type.axis is not None else w.type.scale.array,
                            (6, 1)).astype(np.float64)
    error = np.abs(dequantize(stored, w.type).astype(np.float64) - original)
    assert (error <= scale * (0.5 + 1e-5) + 1e-6 * np.abs(original)).all()
    # the grid is the width's, not a narrower one: the widest weight reaches (within a rounding) its end
    centred = stored - np.broadcast_to(w.type.zero_point.array.reshape(-1, 1) if w.type.axis is not None
                                       else w.type.zero_point.array, (6, 1))
    assert np.abs(centred).max() >= qmax - 1


@pytest.mark.parametrize("bits, storage, saturating, levels, reduced", [
    (3, "i4", False, (-4, 3), False), (5, "i8", False, (-16, 15), False), (7, "i8", False, (-64, 63), False),
    (8, "i8", False, None, False), (8, "i8", True, (-64, 63), True), (6, "i8", True, (-32, 31), False),
    (4, "i8", False, None, False),  # a container the target fell back to holds its own width
    (1, "b1", False, None, False)])
def test_weight_levels_generalise_the_x86_avx2_seven_bit_range(bits, storage, saturating, levels, reduced):
    assert weight_levels(bits, storage, saturating) == (levels, reduced)


def test_x86_avx2_keeps_five_bit_weights_five_bits_and_eight_bit_ones_seven():
    g = single_layer("linear", ("N", 12), (6, 12))
    g, _ = quantized(g, "calibrate,quantize{weights=i5,acts=u8}", target="x86-avx2")
    layer, stored = g.find("y").producer, g.const_value(g.find("w"))
    assert layer.attrs["q.bits"] == 5 and "q.reduce_range" not in layer.attrs
    assert -16 <= stored.min() and stored.max() <= 15 and stored_levels(layer, "i8") == (-16, 15)
    g = single_layer("linear", ("N", 12), (6, 12))
    g, _ = quantized(g, "calibrate,quantize{weights=i8,acts=u8}", target="x86-avx2")
    layer = g.find("y").producer
    assert layer.attrs["q.bits"] == 8 and layer.attrs["q.reduce_range"] is True
    assert stored_levels(layer, "i8") == (-64, 63) != STORAGE_RANGES["i8"]
