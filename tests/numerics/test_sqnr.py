import math

import numpy as np

from qcompiler.numerics.sqnr import sqnr_db


def test_known_ratio_and_edge_cases():
    ref = np.ones(100)
    assert math.isclose(sqnr_db(ref, ref + 0.1), 20.0, rel_tol=1e-9)      # power ratio 1 / 0.01
    assert sqnr_db(ref, ref) == math.inf
    assert sqnr_db(np.zeros(3), np.ones(3)) == -math.inf
    assert sqnr_db(ref, np.ones(5)) == -math.inf


def test_nan_positions_must_agree():
    a = np.array([1.0, np.nan, 2.0])
    assert sqnr_db(a, a.copy()) == math.inf
    assert sqnr_db(a, np.array([1.0, 3.0, 2.0])) == -math.inf
    assert sqnr_db(np.arange(4, dtype=np.int64), np.arange(4)) == math.inf


def test_infinite_positions_must_agree():
    a = np.array([np.inf, 1.0, -np.inf])
    assert sqnr_db(a, a.copy()) == math.inf
    assert sqnr_db(a, np.array([1e30, 1.0, -np.inf])) == -math.inf
    assert sqnr_db(a, np.array([-np.inf, 1.0, -np.inf])) == -math.inf
    assert sqnr_db([np.inf, 1.0], [np.inf, 1.1]) == sqnr_db([1.0], [1.1])
