"""accuracy-control on a real model: rapidocr's PP-OCRv4 recognizer on two rendered text
lines squeezed to 320 px, calibrated on them with minmax (a 17.5-point drop in the
fraction of CTC frames whose class agrees with the float model's, a finer metric than
exact lines on so few), brought within 5 points; the real quantize that follows honours
the marks and its graph scores what the search measured."""
import numpy as np
import pytest
import torch

from qcompiler.ir.types import TensorType
from qcompiler.model.loading import load_model
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.torch import run_torch

pytestmark = pytest.mark.slow

PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=minmax}"


@pytest.fixture(scope="module")
def rec():
    cv2 = pytest.importorskip("cv2")
    from qcompiler.testing.ctc_recognizer import batches, dictionary, rec_model_path
    from qcompiler.testing.text_lines import text_lines

    torch.set_num_threads(1)
    path = rec_model_path()
    lines = text_lines(2, seed=2, dictionary=dictionary(path))
    [(x, _)] = batches([cv2.resize(line.image, (320, 48)) for line in lines], 2)
    graph = load_model(str(path), None)
    PassManager(PREPARE).run(graph, PassContext(target="x86-vnni", calibration=[x]))
    return graph, x, run_torch(graph, [x])[0].argmax(-1)


def test_the_recognizer_keeps_its_noisiest_layers_float(rec):
    graph, x, reference = rec

    def agreement(model, data) -> float:
        return float((np.asarray(model(data)).argmax(-1) == reference).mean())

    manager = PassManager("accuracy-control{max_drop=0.05,samples=2},quantize")
    ctx = PassContext(target="x86-vnni", calibration=[x], validation=(x, agreement))
    manager.run(graph, ctx)
    stats = manager.history[0].stats
    assert stats["float_score"] == 1.0 and stats["candidates"] > 100 and stats["drop_before"] > 0
    assert stats["drop_before"] > 0.05 >= stats["drop_after"]
    kept = [n for n in graph.nodes if n.attrs.get("q.keep_float")]
    assert 1 <= len(kept) == stats["layers_kept_float"] < stats["candidates"] / 2
    assert all(isinstance(n.outputs[0].type, TensorType) for n in kept)
    quantized = sum(not isinstance(n.outputs[0].type, TensorType) for n in graph.nodes if n.op != "const")
    assert quantized > 100
    assert agreement(lambda a: run_torch(graph, [a])[0], x) == pytest.approx(1.0 - stats["drop_after"])
    messages = [d.message for d in ctx.diagnostics if d.pass_name == "accuracy-control" and "kept float" in d.message]
    assert len(messages) == 1 and f"-> {stats['drop_after']:.4g} with {len(kept)} layer(s)" in messages[0]
