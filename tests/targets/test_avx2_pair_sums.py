"""x86 AVX2 without VNNI multiplies u8 x s8 with vpmaddubsw, which adds adjacent products
in int16 with saturation. On full-range data that silently corrupts results (ONNX
Runtime's MatMulInteger on such CPUs). For `x86-avx2`, qcompiler keeps u8 x s8 weights
in [-64, 63]: then 255*64 + 255*64 = 32640 fits int16 and no input can saturate. This
test proves it for every lowered layer, and shows the hazard is real without it."""
import numpy as np
import pytest

import qcompiler
from qcompiler.cli.demo import load_demo_model
from qcompiler.ir.types import QuantType

INT16_MAX = 2**15 - 1
PRODUCT_OPS = ("qconv1d", "qconv2d", "qlinear", "qmatmul")


def _digits(n=256):
    from sklearn.datasets import load_digits

    x = load_digits().images[:n].astype(np.float32) / 16.0
    return ((x - 0.5) / 0.5)[:, None]


def _weight_rows(cm):
    """(layer, input type, weight storage rows along the reduction) of every product layer."""
    for node in cm.graph.nodes:
        if node.op in PRODUCT_OPS and node.inputs[1].producer.op == "const":
            w = node.inputs[1].producer.attrs["value"].array.astype(np.int64)
            yield node, node.inputs[0].type, w.reshape(w.shape[0], -1)


def _saturating_pair_dot(x_u8: np.ndarray, w_row: np.ndarray) -> int:
    """vpmaddubsw + vpaddd: adjacent u8*s8 products summed in saturating int16, then int32."""
    if len(x_u8) % 2:
        x_u8, w_row = np.append(x_u8, 0), np.append(w_row, 0)
    pairs = (x_u8 * w_row).reshape(-1, 2).sum(axis=1)
    return int(np.clip(pairs, -INT16_MAX - 1, INT16_MAX).sum())


@pytest.fixture(scope="module")
def compiled():
    model, x = load_demo_model(), _digits()
    return {t: qcompiler.compile(model, t, calibration=x, progress=False) for t in ("x86-avx2", "x86-vnni")}


def test_avx2_layers_cannot_saturate_for_any_input(compiled):
    layers = list(_weight_rows(compiled["x86-avx2"]))
    assert layers, "the model has product layers"
    for node, x_type, rows in layers:
        assert isinstance(x_type, QuantType) and x_type.storage == "u8", node.label()
        assert rows.min() >= -64 and rows.max() <= 63, node.label()
        # worst case over all inputs: every u8 at 255 with the sign of its weight
        worst_pair = 255 * (np.abs(rows[:, :-1]) + np.abs(rows[:, 1:])).max()
        assert worst_pair <= INT16_MAX, node.label()


def test_full_range_weights_do_saturate_on_adversarial_full_range_input(compiled):
    """The same layers quantized for VNNI (full i8 weights) give a different result on
    AVX2-style saturating pair sums for a full-range input: the constraint is needed."""
    differing = 0
    for node, _, rows in _weight_rows(compiled["x86-vnni"]):
        for w in rows:
            x = np.where(w > 0, 255, 0).astype(np.int64)  # full-range input aligned with w
            differing += _saturating_pair_dot(x, w) != int(x @ w)
    assert differing > 0
    for node, _, rows in _weight_rows(compiled["x86-avx2"]):
        for w in rows:
            for x in (np.where(w > 0, 255, 0), np.where(w < 0, 255, 0), np.full_like(w, 255)):
                assert _saturating_pair_dot(x, w) == int(x @ w), node.label()
