"""The exactness bound of numerics/minifloat_products.py, as its docstring states it."""
import numpy as np
import pytest

from qcompiler.ir import MinifloatType
from qcompiler.numerics.minifloat import decode_table, format_of
from qcompiler.numerics.minifloat_products import sum_is_exact

E4M3 = dict(format="e4m3", no_nan_inf=True)


def _table(**fmt) -> np.ndarray:
    return decode_table(format_of(MinifloatType(expressed="f32", shape=(1,), **fmt)))


@pytest.mark.parametrize("fmt, log2_k", [(E4M3, 17), (dict(format="e5m2"), 3), (dict(format="e2m3", finite=True), 29)])
def test_sums_against_e4m3_weights_are_exact_up_to_the_stated_length(fmt, log2_k):
    x_table, w_table = _table(**fmt), _table(**E4M3)
    assert sum_is_exact(x_table, w_table, 2 ** log2_k)
    assert not sum_is_exact(x_table, w_table, 2 ** (log2_k + 1))
