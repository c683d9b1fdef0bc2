"""masked_softmax: softmax(x + where(keep, 0, fill)) in the numpy reference, the torch impl,
the Numba executor and the float ONNX export, with -inf, finfo(float32).min and -1e4
fills, padded keys and a row where nothing is kept."""
import math

import numpy as np
import onnxruntime as ort
import pytest
import torch

from qcompiler.backends.numba import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.ir.errors import VerifyError
from qcompiler.ir.parser import parse
from qcompiler.ir.registry import get_op
from qcompiler.runtime.reference import run_graph

FILLS = [-math.inf, float(np.finfo(np.float32).min), -1e4]


def scores_and_keep():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3, 4, 5)) * 3).astype(np.float32)
    keep = np.ones((2, 1, 1, 5), bool)
    keep[1, ..., 2:] = False   # a padded sequence: its last three keys are masked
    return x, keep


def additive(x, keep, fill):
    """The form exporters write: scores plus a float mask, then softmax."""
    scores = torch.from_numpy(x) + torch.where(torch.from_numpy(keep), 0.0, fill)
    return torch.softmax(scores, dim=-1).numpy()


def graph(fill, x_shape="2,3,4,5", keep_shape="2,1,1,5", zero_empty_rows=False):
    flag = ", zero_empty_rows=true" if zero_empty_rows else ""
    return parse(f"""
graph @g(%x: f32[{x_shape}], %keep: bool[{keep_shape}]) -> (f32[{x_shape}]) {{
  %p = masked_softmax(%x, %keep) {{axis=-1, fill={fill}{flag}}} : f32[{x_shape}]
  return %p
}}""")


@pytest.mark.parametrize("fill", FILLS, ids=["-inf", "finfo.min", "-1e4"])
def test_reference_torch_numba_and_onnx_equal_the_additive_form(fill):
    x, keep = scores_and_keep()
    expected = additive(x, keep, fill)
    assert np.all(expected[1, ..., 2:] == 0) and np.all(expected[1, ..., :2] > 0)
    g = graph(fill)
    np.testing.assert_allclose(run_graph(g, [x, keep])[0], expected, rtol=1e-6, atol=1e-7)
    impl = get_op("masked_softmax").torch
    np.testing.assert_allclose(impl(torch.from_numpy(x), torch.from_numpy(keep), axis=-1, fill=fill).numpy(),
                               expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(NumbaExecutor(g)([x, keep])[0], expected, rtol=1e-6, atol=1e-7)
    onnx_model = to_onnx(g, form="float")
    got = ort.InferenceSession(onnx_model.SerializeToString()).run(None, {"x": x, "keep": keep})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("fill, expected", [(-math.inf, "nan"), (-1e4, "uniform")])
def test_a_row_with_nothing_kept_behaves_as_the_additive_form(fill, expected):
    x, keep = scores_and_keep()
    keep[0, ..., :] = False
    out = run_graph(graph(fill), [x, keep])[0][0]
    if expected == "nan":
        assert np.isnan(out).all() and np.isnan(additive(x, keep, fill)[0]).all()
    else:
        np.testing.assert_allclose(out, additive(x, keep, fill)[0], rtol=1e-6)


def test_zero_empty_rows_gives_a_row_with_nothing_kept_zeros_as_torch_sdpa_does():
    x, keep = scores_and_keep()
    keep[0, ..., :] = False
    g = graph(-math.inf, zero_empty_rows=True)
    expected = additive(x, keep, -math.inf)
    expected[0] = 0
    impl = get_op("masked_softmax").torch
    outs = {"reference": run_graph(g, [x, keep])[0], "numba": NumbaExecutor(g)([x, keep])[0],
            "torch": impl(torch.from_numpy(x), torch.from_numpy(keep), axis=-1, fill=-math.inf,
                          zero_empty_rows=True).numpy(),
            "onnx": ort.InferenceSession(to_onnx(g, form="float").SerializeToString()).run(
                None, {"x": x, "keep": keep})[0]}
    for name, out in outs.items():
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("text, message", [
    ("%p = masked_softmax(%x, %keep) {axis=-1, fill=-10000.0, zero_empty_rows=true} : f32[2,5]", "needs fill=-inf"),
    ("%p = masked_softmax(%x, %x) {axis=-1, fill=-inf} : f32[2,5]", "keep must be bool"),
    ("%p = masked_softmax(%x, %keep) {axis=-1, fill=1.0} : f32[2,5]", "fill must be zero or negative"),
    ("%p = masked_softmax(%x, %keep) {axis=2, fill=-inf} : f32[2,5]", "masked_softmax"),
])
def test_malformed_nodes_are_refused(text, message):
    with pytest.raises(VerifyError, match=message):
        parse(f"graph @g(%x: f32[2,5], %keep: bool[2,5]) -> (f32[2,5]) {{\n  {text}\n  return %p\n}}")
