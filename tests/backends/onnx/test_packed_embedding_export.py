"""Embedding tables whose codes need fewer than 8 bits (quantize{embedding_sqnr=...}) are
written packed, and the rows read are unpacked in the graph, equal to the int8 lookup."""
import numpy as np
import onnx
import pytest

from qcompiler.backends.onnx import to_onnx
from qcompiler.ir.core import Graph
from qcompiler.ir.types import TensorType
from qcompiler.numerics.sqnr import sqnr_db
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.reference import run_graph

from qcompiler.backends.onnx.integer_embedding import code_bits, pack_rows
from onnx_export_helpers import run_onnx

ROWS, DIM = 18000, 60  # 60 columns: the last group of 8 codes is padded; 1.08 M values: a vocabulary


def lowered(table: np.ndarray, sqnr: float) -> Graph:
    g = Graph("lookup")
    ids = g.add_input("ids", TensorType("i64", ("N", 5)))
    g.set_outputs([g.add("embedding", [ids, g.constant(table, origin="tokens")], name="rows").output])
    PassManager(f"calibrate{{method=minmax}},quantize{{embedding_sqnr={sqnr}}},lower").run(
        g, PassContext(calibration=np.zeros((2, 5), np.int64)))
    return g


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((ROWS, DIM)) * rng.uniform(0.01, 10, (ROWS, 1))).astype(np.float32)


@pytest.mark.parametrize("bits", [2, 3, 5, 7])
def test_pack_rows_round_trips_every_code(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (3, 13)).astype(np.int8)
    codes[0, 0], codes[0, 1] = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    assert code_bits(codes) == bits
    packed = pack_rows(codes, bits)
    assert packed.shape == (3, 2 * bits)
    bitstream = np.unpackbits(packed, axis=1, bitorder="little")
    weights = 2 ** np.arange(bits)
    got = np.stack([bitstream[:, j * bits:(j + 1) * bits] @ weights for j in range(13)], axis=1) - 2 ** (bits - 1)
    np.testing.assert_array_equal(got, codes)


@pytest.mark.parametrize("sqnr, bits", [(30.0, 6), (15.0, 4)])
def test_packed_lookup_equals_the_int8_lookup_in_onnxruntime(table, sqnr, bits):
    graph = lowered(table, sqnr)
    (const,) = [n for n in graph.nodes if n.op == "const" and n.attrs.get("origin") == "tokens"]
    assert const.attrs["q.row_bits"] == bits
    t = const.output.type  # the fewest bits meeting the floor: one bit fewer would not
    peak = np.abs(table).max(axis=1, keepdims=True)
    coarser = peak / (2 ** (bits - 2) - 1)
    assert sqnr_db(table, np.round(table / coarser) * coarser) < sqnr
    # rows clipped for least error: finer steps than max|row| gives, and less error
    assert np.all(t.scale.array <= peak[:, 0] / (2 ** (bits - 1) - 1) * (1 + 1e-6))
    assert np.any(t.scale.array < peak[:, 0] / (2 ** (bits - 1) - 1) * 0.99)
    peak_scaled = peak / (2 ** (bits - 1) - 1)
    got = graph.const_value(const.output) * t.scale.array[:, None]
    assert sqnr_db(table, got) > sqnr_db(table, np.round(table / peak_scaled) * peak_scaled)
    ids = np.array([[0, 1, ROWS - 1, -1, 17], [5, 5, 4000, -ROWS, 2]])
    (want,) = run_graph(graph, [ids])
    for form in ("integer", "qoperator"):
        model = to_onnx(graph, form)
        sizes = {i.name: len(i.raw_data) for i in model.graph.initializer}
        assert "tokens" not in sizes and sizes["tokens:packed%d" % bits] == ROWS * 8 * bits
        np.testing.assert_array_equal(run_onnx(model, {"ids": ids})["rows"], want)


@pytest.mark.parametrize("rows, sqnr", [(ROWS, 1000.0), (ROWS // 2, 15.0)])
def test_unreachable_floors_and_small_tables_stay_int8_and_unpacked(table, rows, sqnr):
    graph = lowered(table[:rows], sqnr)  # no narrower width reaches 1000 dB; half the table is no vocabulary
    model = to_onnx(graph, "integer")
    assert [i.data_type for i in model.graph.initializer if i.name == "tokens"] == [onnx.TensorProto.INT8]
