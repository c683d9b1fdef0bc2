"""qavg_pool2d / qglobal_avg_pool on the Numba kernels vs their numpy references."""
import numpy as np
import pytest

from numba_cases import ROUNDINGS, compare, one_node, qtype, requant_attrs, storage
from qcompiler.ir.registry import infer_types


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("attrs", [
    {"kernel": [2, 2]}, {"kernel": [3, 3], "stride": [2, 1]}, {"kernel": [3, 3], "stride": [2, 2], "pad": [1, 1, 1, 1]},
    {"kernel": [2, 3], "stride": [1, 2], "pad": [0, 1, 1, 0]},
], ids=["2x2", "3x3_s21", "3x3_s2_pad", "2x3_asym_pad"])
def test_qavg_pool2d_matches_reference(attrs, rounding):
    rng = np.random.default_rng(0)
    x_t = qtype("u8", (2, 3, 9, 8), zp=250)
    attrs = {**attrs, **requant_attrs(rng, 1, rounding, (0.05, 0.3))}
    shape = infer_types("qavg_pool2d", [x_t], attrs)[0].shape
    out = compare(one_node("qavg_pool2d", [(x_t, None)], attrs, qtype("u8", shape, zp=128)), [storage(rng, x_t)])[0]
    assert len(np.unique(out)) > 3


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (1, 4, 9)])
def test_qglobal_avg_pool_matches_reference(shape, rounding):
    rng = np.random.default_rng(1)
    x_t = qtype("i8", shape, zp=-20)
    size = int(np.prod(shape[2:]))
    attrs = requant_attrs(rng, 1, rounding, (0.5 / size, 2.0 / size))
    out_shape = shape[:2] + (1,) * (len(shape) - 2)
    compare(one_node("qglobal_avg_pool", [(x_t, None)], attrs, qtype("u8", out_shape, zp=100)), [storage(rng, x_t)])
