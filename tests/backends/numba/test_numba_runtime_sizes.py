"""Integer kernels for sizes known only at run time: a global average pool that divides
by its run-time count (`runtime_count`) and a qmatmul over a symbolic K bounded by
`max_terms`. The numpy reference, the Numba kernels and the ONNX integer form agree bit
for bit at every size; the division rounds exactly; a K beyond the bound raises."""
from fractions import Fraction

import numpy as np
import onnxruntime as ort
import pytest

from numba_cases import ROUNDINGS
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.ir.errors import QIRError
from qcompiler.ir.ops.quant_pool import mean_requantize
from qcompiler.ir.parser import parse
from qcompiler.ir.types import QuantType
from qcompiler.runtime.reference import ExecutionError, run_graph

POOL = """
graph @pool(%x: f32[N,3,H,W]) -> (q<{out}:f32, scale=0.01, zp={out_zp}>[N,3,1,1]) {{
  %xq = quantize(%x) : q<{storage}:f32, scale=0.02, zp={zp}>[N,3,H,W]
  %y = qglobal_avg_pool(%xq) {{multiplier=dense<[{m}]> : i32[1], rounding="{rounding}", runtime_count=true, shift=dense<[{s}]> : i32[1]}} : q<{out}:f32, scale=0.01, zp={out_zp}>[N,3,1,1]
  return %y
}}
"""
ATTENTION = """
graph @attention(%p: f32[N,3,L], %v: f32[N,L,4]) -> (q<u8:f32, scale=0.05, zp=128>[N,3,4]) {
  %pq = quantize(%p) : q<u8:f32, scale=0.00390625, zp=0>[N,3,L]
  %vq = quantize(%v) : q<u8:f32, scale=0.05, zp=128>[N,L,4]
  %attn = qmatmul(%pq, %vq) {clamp=[0, 255], max_terms=MAX, multiplier=dense<[1073741824]> : i32[1], rounding="half_even", shift=dense<[38]> : i32[1]} : q<u8:f32, scale=0.05, zp=128>[N,3,4]
  return %attn
}
"""


def _exact(s: int, count: int, multiplier: int, shift: int, rounding: str) -> int:
    """round(s · multiplier / (count · 2^shift)) with rational arithmetic."""
    v = Fraction(s * multiplier, count * 2**shift)
    floor = v.numerator // v.denominator
    frac = v - floor
    if frac != Fraction(1, 2):
        return floor + (frac > Fraction(1, 2))
    return {"half_up": floor + 1, "half_away": floor + (v > 0), "half_even": floor + floor % 2}[rounding]


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_the_run_time_division_rounds_exactly(rounding):
    rng = np.random.default_rng(0)
    out = QuantType("i32", "f32", (), np.float32(1), np.int32(0))
    counts = rng.integers(1, 2**32 - 1, 300)
    sums = rng.integers(-2**16, 2**16, 300) * counts + rng.integers(0, counts)  # means of 16-bit storage
    cases = list(zip(sums, counts, rng.integers(2**30, 2**31, 300), rng.integers(20, 50, 300)))
    cases += [(s % 4096 - 2048, c % 64 + 1, m, 1) for s, c, m, _ in cases[:50]]  # small shifts (results clamp)
    cases += [(c * k, c, 2**30, 31) for c, k in ((4, 1), (6, -3), (10, 5))]  # ties (the mean is k/2)
    cases += [(-1, 7, 2**31 - 1, 1), (2**40, 2**32 - 1, 2**31 - 1, 62), (5, 1, 2**30, 63)]
    for s, c, m, sh in cases:
        got = int(mean_requantize(np.array([s]), int(c), out, int(m), int(sh), rounding)[0])
        assert got == min(max(_exact(int(s), int(c), int(m), int(sh), rounding), -2**31), 2**31 - 1), (s, c, m, sh)


def _integer_session(graph) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(to_onnx(graph, "integer").SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def _three_ways(graph, session, feeds: list) -> list:
    """Reference, Numba and ONNX integer outputs (dequantized storage) of `feeds`."""
    want = run_graph(graph, feeds)[0]
    numba = NumbaExecutor(graph)(feeds)[0]
    onnx = session.run(None, {v.name: a for v, a in zip(graph.inputs, feeds)})[0]
    return [want, numba, onnx]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("storage,zp,out,out_zp,multiplier", [
    ("u8", 3, "u8", 0, 1.0), ("i8", -5, "i8", 2, 1.8), ("i16", 7, "i16", -9, 0.37)])
def test_global_pool_over_a_run_time_area_agrees_bit_for_bit(storage, zp, out, out_zp, multiplier, rounding):
    m, s = np.frexp(multiplier)
    graph = parse(POOL.format(storage=storage, zp=zp, out=out, out_zp=out_zp, m=int(np.ldexp(m, 31)),
                              s=31 - int(s), rounding=rounding))
    session = _integer_session(graph)
    rng = np.random.default_rng(1)
    for h, w in ((1, 1), (2, 3), (5, 8), (48, 96), (7, 333)):
        x = rng.normal(0.3, 1.5, (2, 3, h, w)).astype(np.float32)
        want, numba, onnx = _three_ways(graph, session, [x])
        np.testing.assert_array_equal(numba, want, err_msg=f"numba at {h}x{w}")
        np.testing.assert_array_equal(onnx, want, err_msg=f"onnx integer at {h}x{w}")
        x_t = graph.nodes[0].output.type
        mean = np.clip(np.round(x / 0.02) + zp, x_t.qmin, x_t.qmax).mean(axis=(2, 3), keepdims=True) - zp
        y_t = graph.outputs[0].type
        expected = np.clip(mean * multiplier + out_zp, y_t.qmin, y_t.qmax) - out_zp  # in output steps
        assert np.abs(want / 0.01 - expected).max() <= 0.5 + 1e-3


def test_an_empty_area_is_refused_by_name():
    graph = parse(POOL.format(storage="u8", zp=0, out="u8", out_zp=0, m=2**30, s=30, rounding="half_even"))
    x = np.zeros((1, 3, 0, 4), np.float32)
    for run in (lambda: run_graph(graph, [x]), lambda: NumbaExecutor(graph)([x])):
        with pytest.raises(ExecutionError, match=r"node .*%y.* over 0 elements per channel"):
            run()


def test_a_symbolic_reduction_runs_up_to_max_terms_and_refuses_longer():
    graph = parse(ATTENTION.replace("MAX", "40"))
    session = _integer_session(graph)
    rng = np.random.default_rng(2)
    for length in (1, 7, 40):
        p = rng.uniform(0, 1, (2, 3, length)).astype(np.float32)
        v = rng.normal(0, 2, (2, length, 4)).astype(np.float32)
        want, numba, onnx = _three_ways(graph, session, [p, v])
        np.testing.assert_array_equal(numba, want, err_msg=f"numba at K={length}")
        np.testing.assert_array_equal(onnx, want, err_msg=f"onnx integer at K={length}")
        assert np.abs(want - np.clip(p @ v, -6.4, 6.35)).max() <= 0.2
    p, v = np.ones((1, 3, 41), np.float32), np.ones((1, 41, 4), np.float32)
    for run in (lambda: run_graph(graph, [p, v]), lambda: NumbaExecutor(graph)([p, v])):
        with pytest.raises(ExecutionError, match=r"node .*%attn.*reduction length 41 exceeds max_terms=40"):
            run()


def test_malformed_run_time_attributes_are_refused_by_the_verifier():
    no_shift = POOL.format(storage="u8", zp=0, out="u8", out_zp=0, m=2**30, s=0, rounding="half_even")
    with pytest.raises(QIRError, match="runtime_count, 'shift' must be at least 1"):
        parse(no_shift)
    wide = POOL.format(storage="i32", zp=0, out="u8", out_zp=0, m=2**30, s=3, rounding="half_even")
    with pytest.raises(QIRError, match="storage i32; this op takes 2..16-bit storage"):
        parse(wide)
    with pytest.raises(QIRError, match="'max_terms' must be >= 0"):
        parse(ATTENTION.replace("MAX", "-1"))
