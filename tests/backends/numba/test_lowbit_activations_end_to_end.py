"""1- and 2-bit activations from the compiler: the digits CNN compiled at W2A2
(`calibrate{bits=2}`, `quantize{weights=i2,acts=u2}`) and W1A1 (`bits=1`, `weights=b1,acts=b1`)
keeps its first and last layers at 8 bits, runs its low-bit layer on the bit-serial kernels in
Numba, and equals the fake-quant simulation integer for integer there and in onnxruntime
(every export form; 1- and 2-bit storage in 8-bit containers)."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

import qcompiler
from qcompiler.analysis.agreement import integer_agreement
from qcompiler.backends.numba.executor import NumbaExecutor
from qcompiler.backends.onnx import to_onnx
from qcompiler.runtime.reference import run_graph
from qcompiler.testing.zoo import digits_data, train_digits_cnn

from test_bitserial import counting_bitserial_runs

PIPELINE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{{method=mse,bits={bits},samples=128}}," \
           "quantize{{weights={weights},acts={acts}}},lower"
# name -> (calibrated bits, weights, activations, PTQ accuracy floor on 48 test digits; float: 98%)
WIDTHS = {"W2A2": (2, "i2", "u2", 0.8), "W1A1": (1, "b1", "b1", 0.4)}


@pytest.fixture(scope="module", params=list(WIDTHS))
def lowbit_digits(request):
    torch.set_num_threads(1)
    bits, weights, acts, floor = WIDTHS[request.param]
    x_train, _, x_test, y_test = digits_data()
    cm = qcompiler.compile(train_digits_cnn(), target="generic", calibration=x_train[:128].numpy(),
                           pipeline=PIPELINE.format(bits=bits, weights=weights, acts=acts), progress=False)
    return cm, x_test[:48].numpy(), y_test[:48].numpy(), (weights, acts, floor)


def test_first_and_last_layers_stay_8_bit_and_the_middle_one_is_low_bit(lowbit_digits):
    cm, _, _, (weights, acts, _) = lowbit_digits
    layers = [(n.inputs[1].type.storage, n.inputs[0].type.storage, n.output.type.storage)
              for n in cm.graph.nodes if n.op in ("qconv2d", "qlinear")]
    # (weights, input, result): the stem reads the u8 image, the classifier writes u8 logits
    assert layers == [("i8", "u8", acts), (weights, acts, "u8"), ("i8", "u8", "u8")]
    [note] = [d for d in cm.diagnostics if "first and last layers" in d.message]
    assert "'conv2d' (%features_2), 'linear' (%classifier)" in note.message


def test_the_low_bit_layer_runs_bitserial_and_equals_the_simulation(lowbit_digits):
    cm, x, y, (_, _, floor) = lowbit_digits
    with counting_bitserial_runs() as calls:
        got = NumbaExecutor(cm.graph)([x])[0]
    assert calls == {"conv": 1, "linear": 0}  # the low-bit conv; the 8-bit edges run the int8 kernels
    assert all(r.exact for r in integer_agreement(cm.graph, cm.fake_quant_graph, [x]))
    want = run_graph(cm.fake_quant_graph, [x])[0]
    np.testing.assert_array_equal(got, want)
    assert np.mean(want.argmax(1) == y) > floor  # PTQ, no retraining: poor at 1 bit (bench/RESULTS.md)


@pytest.mark.parametrize("form", ["integer", "qoperator", "qdq"])
def test_onnxruntime_equals_the_simulation_in_8bit_containers(lowbit_digits, form):
    cm, x, _, _ = lowbit_digits
    model = to_onnx(cm.fake_quant_graph if form == "qdq" else cm.graph, form)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    [got] = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    np.testing.assert_array_equal(got, run_graph(cm.fake_quant_graph, [x])[0])
