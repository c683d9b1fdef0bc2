"""save_qir / load_qir: text plus an .npz of blobs, loaded without pickle."""
import numpy as np
import pytest

from qcompiler.ir import Graph, ParseError, QuantType, TensorType, graph_diff, load_qir, save_qir


def weighted_graph() -> Graph:
    g = Graph("m")
    x = g.add_input("x", TensorType("f32", ("N", 32)))
    w = g.constant(np.linspace(-1, 1, 64 * 32, dtype=np.float32).reshape(64, 32), name="w", origin="fc.weight")
    y = g.add("linear", [x, w, None], {"q.bits": 4}, name="y",
              output_types=[QuantType("i8", "f32", ("N", 64), scale=np.full(64, 0.1, np.float32),
                                      zero_point=np.zeros(64, np.int32), axis=1)])
    g.set_outputs([y.output])
    return g


def test_save_and_load(tmp_path):
    g = weighted_graph()
    save_qir(g, tmp_path / "m.qir")
    assert (tmp_path / "m.npz").is_file() and "value=dense<blob:2> : f32[64,32]" in (tmp_path / "m.qir").read_text()
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["0", "1", "2"]
    assert graph_diff(load_qir(tmp_path / "m.qir"), g) is None


def test_missing_or_broken_blobs_are_parse_errors(tmp_path):
    save_qir(weighted_graph(), tmp_path / "m.qir")
    (tmp_path / "m.npz").write_bytes(b"not a zip")
    with pytest.raises(ParseError, match="cannot read the blobs in"):
        load_qir(tmp_path / "m.qir")
    (tmp_path / "m.npz").unlink()
    with pytest.raises(ParseError, match=r"m.qir:1:\d+: dense<blob:0> needs the blobs"):
        load_qir(tmp_path / "m.qir")


def test_object_arrays_are_refused(tmp_path):
    save_qir(weighted_graph(), tmp_path / "m.qir")
    np.savez(tmp_path / "m.npz", **{"0": np.array([object()], dtype=object)})
    with pytest.raises(ParseError, match="cannot read the blobs"):
        load_qir(tmp_path / "m.qir")
