"""`qcompiler demo`: the bundled digits CNN, compiled for armv8, with its report and the
test accuracy of fp32 torch, the int8 Numba backend and the int8 ONNX export in ONNX
Runtime. The weights ship in qcompiler/data (scripts/train_demo_model.py makes them);
the digits come with scikit-learn. Nothing is downloaded."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TextIO

import numpy as np

from ..ir.errors import QIRError

WEIGHTS = Path(__file__).parents[1] / "data" / "digits_cnn.npz"
TARGET = "armv8"
ONNX_FORM = "qoperator"


class DemoError(QIRError):
    """The bundled demo weights are missing or do not fit the demo model."""


def load_demo_model(path=WEIGHTS):
    """The DigitsCNN with the bundled (or given) weights, in eval mode."""
    import torch

    from ..testing.zoo import DigitsCNN

    model = DigitsCNN()
    try:
        with np.load(path, allow_pickle=False) as z:
            state = {k: torch.from_numpy(z[k]) for k in z.files}
        model.load_state_dict(state)
    except (OSError, ValueError, RuntimeError) as e:
        raise DemoError(f"cannot load the demo weights from {path}: {e}; "
                        f"regenerate them with scripts/train_demo_model.py") from None
    return model.eval()


def run_demo(out: TextIO = sys.stdout, progress: bool = False) -> dict:
    """Compile, report, measure; returns the accuracies by row label."""
    from ..api import compile
    from ..testing.zoo import accuracy, digits_data

    model = load_demo_model()
    x_train, _, x_test, y_test = digits_data()
    out.write(f"compiling the bundled digits CNN for {TARGET}, calibrated on {len(x_train)} training digits\n\n")
    cm = compile(model, TARGET, example_inputs=x_test[:1], calibration=x_train, progress=progress)
    out.write(f"{cm.report()}\n\n")
    labels = y_test.numpy()
    accuracies = {
        "fp32 torch": accuracy(model, x_test, y_test),
        "int8 Numba backend": float(np.mean(cm(x_test.numpy()).argmax(1) == labels)),
        f"int8 ONNX Runtime ({ONNX_FORM} form)": float(np.mean(_onnxruntime_logits(cm, x_test.numpy()).argmax(1)
                                                             == labels)),
    }
    out.write(f"test accuracy on {len(labels)} held-out digits:\n")
    width = max(len(k) for k in accuracies)
    for label, acc in accuracies.items():
        out.write(f"  {label:<{width}}  {100 * acc:5.1f}%\n")
    return accuracies


def _onnxruntime_logits(cm, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = cm.export_onnx(Path(tmp) / "digits.int8.onnx", form=ONNX_FORM)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
