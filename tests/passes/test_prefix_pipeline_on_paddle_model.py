"""The canonicalize/fuse prefix on a real exported model: PaddleOCR's direction
classifier (shipped by rapidocr_onnxruntime), whose hardswish, bias adds and batch
norms are spelled the way paddle2onnx spells them."""
from pathlib import Path

import numpy as np
import pytest

rapidocr = pytest.importorskip("rapidocr_onnxruntime")

from qcompiler.frontends.onnx import import_onnx  # noqa: E402
from qcompiler.instruments import NumericsCheck, VerifyEach  # noqa: E402
from qcompiler.passmanager import PassManager  # noqa: E402

MODEL = Path(rapidocr.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"


@pytest.mark.slow
def test_everything_fuses_into_the_convs_without_losing_accuracy():
    g = import_onnx(MODEL, input_shapes={"x": (1, 3, 48, 192)})
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 48, 192)).astype(np.float32)
    check = NumericsCheck([x], threshold_db=90.0, strict=True)
    imported = g.op_counts()
    pm = PassManager("fold-constants,canonicalize,cse,fold-bn,fuse-activations,dce", instruments=[VerifyEach(), check])
    pm.run(g)
    ops = g.op_counts()
    assert not {"batch_norm", "clip", "div", "relu", "hardswish", "identity"} & set(ops)
    stats = {r.name: r.stats for r in pm.history}
    assert stats["fold-bn"] == {"fold-bn": imported["batch_norm"]}
    assert stats["canonicalize"]["hardswish-div"] == imported["clip"]    # each clip was part of a hardswish
    assert stats["fuse-activations"] == {"fuse-hardswish": 18, "fuse-relu": 15}
    assert all(min(r.outputs_db) > 90 for r in check.records)
