"""The report's table does not depend on how the integer products' reference computes its
exact sums: the float64 (BLAS) route gives the same table, number for number, as numpy's
int64 products did."""
import numpy as np
import pytest
import torch

from qcompiler.api import compile
from qcompiler.ir.ops import quant_conv
from qcompiler.ir.registry import run_reference
from qcompiler.report.layers import report
from qcompiler.testing.zoo import DigitsCNN


def _int64_product(float_op, operands, attrs):
    return np.asarray(run_reference(float_op, operands, attrs)[0], np.int64)


@pytest.fixture(scope="module")
def compiled():
    torch.manual_seed(0)  # an untrained CNN: the table's numbers matter, not the accuracy
    samples = np.random.default_rng(0).standard_normal((32, 1, 8, 8)).astype(np.float32)
    return compile(DigitsCNN().eval(), "x86-vnni", calibration=samples, progress=False)


def test_same_table_as_with_int64_products(compiled, monkeypatch):
    fast = report(compiled)
    assert any(r["op"] in ("qconv2d", "qlinear") and r["sqnr_db"] is not None for r in fast.rows)
    monkeypatch.setattr(quant_conv, "_integer_product", _int64_product)
    slow = report(compiled)
    assert str(fast) == str(slow)
    assert [r["differ_from_sim"] for r in fast.rows] == [r["differ_from_sim"] for r in slow.rows]
