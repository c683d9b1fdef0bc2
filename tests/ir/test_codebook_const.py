"""Codebook constants (qcompiler/ir/codebook.py): the verifier's rule, the reference
interpreter's decoding and the .qir round trip."""
import numpy as np
import pytest

from qcompiler.ir import CodebookType, Graph, TensorType, VerifyError, graph_diff, load_qir, save_qir, verify
from qcompiler.ir.codebook import CODEBOOK, SCALE, codebook_attrs, decode
from qcompiler.ir.dense import Dense
from qcompiler.ir.registry import run_reference
from qcompiler.runtime.reference import run_graph

CODEBOOK_INTS = np.arange(-18, 18, dtype=np.int8).reshape(4, 3, 3)
INDICES = np.array([[0, 3], [2, 2], [1, 0]], np.uint8)
SCALE_F32 = 0.05


def codebook_graph(indices=INDICES, codebook=CODEBOOK_INTS, scale=SCALE_F32, index_bits=2) -> Graph:
    g = Graph("cb")
    x = g.add_input("x", TensorType("f32", ("N", 2, 5, 5)))
    t = CodebookType(6, index_bits, (3, 3), "f32", (3, 2, 3, 3))
    w = g.constant(indices, name="w", origin="conv.weight", type=t)
    w.producer.attrs.update(codebook_attrs(codebook, scale))
    y = g.add("conv2d", [x, w], {"pad": [1, 1, 1, 1]}, name="y")
    g.set_outputs([y.output])
    return g


def test_reference_runs_the_decoded_weight():
    g = codebook_graph()
    verify(g)
    weight = decode(g.find("w").producer)
    assert weight.dtype == np.float32 and weight.shape == (3, 2, 3, 3)
    np.testing.assert_array_equal(weight[0, 1], CODEBOOK_INTS[3].astype(np.float32) * np.float32(0.05))
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    expected = run_reference("conv2d", [x, weight, None], {"pad": [1, 1, 1, 1]})[0]
    np.testing.assert_array_equal(run_graph(g, [x])[0], expected)


def test_qir_round_trip(tmp_path):
    g = codebook_graph()
    save_qir(g, tmp_path / "cb.qir")
    text = (tmp_path / "cb.qir").read_text()
    assert "cb<cb6:idx2:f32, kernel=[3, 3]>[3,2,3,3]" in text and "q.codebook=dense<blob:0> : i8[4,3,3]" in text
    loaded = load_qir(tmp_path / "cb.qir")
    assert graph_diff(loaded, g) is None
    x = np.ones((1, 2, 5, 5), np.float32)
    np.testing.assert_array_equal(run_graph(loaded, [x])[0], run_graph(g, [x])[0])


@pytest.mark.parametrize("change, message", [
    (lambda n: n.attrs.update(value=Dense(INDICES[:2])), r"indices have shape \[2, 2\], expected \[3, 2\]"),
    (lambda n: n.attrs.update(value=Dense(INDICES + 2)), r"indices outside \[0, 3\]"),
    (lambda n: n.attrs.update(value=Dense(INDICES.astype(np.float32))), "must be integers"),
    (lambda n: n.attrs.pop(SCALE), "needs 'q.codebook'"),
    (lambda n: n.attrs.update(codebook_attrs(CODEBOOK_INTS * 2, SCALE_F32)), r"outside the 6-bit range \[-32, 31\]"),
    (lambda n: n.attrs.update(codebook_attrs(CODEBOOK_INTS[:2], SCALE_F32)), r"integers of shape \[4, 3, 3\]"),
    (lambda n: n.attrs.update({SCALE: -1.0}), "must be finite and > 0"),
    (lambda n: n.attrs.update({CODEBOOK: Dense(CODEBOOK_INTS.astype(np.float32))}), "integers of shape"),
])
def test_verifier_names_what_is_wrong(change, message):
    g = codebook_graph()
    change(g.find("w").producer)
    with pytest.raises(VerifyError, match=message) as e:
        verify(g)
    assert "%w" in str(e.value)


def test_weight_shape_must_end_in_the_kernel():
    g = Graph("cb")
    t = CodebookType(6, 2, (3, 3), "f32", (3, 2, 1, 1))
    w = g.constant(INDICES, name="w", type=t)
    w.producer.attrs.update(codebook_attrs(CODEBOOK_INTS, SCALE_F32))
    g.set_outputs([w])
    with pytest.raises(VerifyError, match=r"does not end in the kernel shape \[3, 3\]"):
        verify(g)
