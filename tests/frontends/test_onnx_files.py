"""ONNX files: external data inside the model folder loads, outside it is refused;
truncated, missing and garbage files are errors naming the file."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir import FrontendError
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.onnx_models import floats, make_model as model, tensor as t

RNG = np.random.default_rng(0)


def x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)



def _external_model(folder, location):
    """A Gemm whose weight lives in external data at `location` (relative to folder)."""
    node = helper.make_node("Gemm", ["x", "w"], ["y"])
    w = x(4, 3)
    m = model([node], [t("x", [2, 4])], [t("y", [2, 3])], 17, inits=[floats("w", w)])
    onnx.external_data_helper.convert_model_to_external_data(m, location="weights.bin", size_threshold=0)
    onnx.save_model(m, str(folder / "model.onnx"))  # writes folder/weights.bin
    tensor = m.graph.initializer[0]
    for entry in tensor.external_data:
        if entry.key == "location":
            entry.value = str(location)
    onnx.save_model(m, str(folder / "model.onnx"))
    return folder / "model.onnx", w


def test_external_data_inside_the_model_folder_loads(tmp_path):
    path, w = _external_model(tmp_path, "weights.bin")
    g = import_onnx(path)
    feed = x(2, 4)
    np.testing.assert_allclose(run_graph(g, [feed])[0], feed @ w, rtol=1e-5)
    assert g.name == "m"


@pytest.mark.parametrize("escape", ["relative", "absolute"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, escape):
    inner = tmp_path / "model"
    inner.mkdir()
    _external_model(inner, "weights.bin")
    (inner / "weights.bin").rename(tmp_path / "weights.bin")
    location = "../weights.bin" if escape == "relative" else str(tmp_path / "weights.bin")
    path, _ = _external_model(inner, location)
    with pytest.raises(FrontendError, match=f"tensor 'w'.*{escape == 'relative' and '../weights.bin' or 'weights.bin'}"):
        import_onnx(path)


def test_missing_external_data_file_is_named(tmp_path):
    path, _ = _external_model(tmp_path, "weights.bin")
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(FrontendError, match="tensor 'w'.*weights.bin.*does not exist"):
        import_onnx(path)


def test_truncated_model_file_is_named(tmp_path):
    import rapidocr_onnxruntime

    data = (Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(FrontendError, match="cut.onnx"):
        import_onnx(path)


def test_missing_and_garbage_files_are_named(tmp_path):
    with pytest.raises(FrontendError, match="nope.onnx"):
        import_onnx(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01 this is not protobuf \xff" * 10)
    with pytest.raises(FrontendError, match="junk.onnx"):
        import_onnx(tmp_path / "junk.onnx")
