"""Kernel part of bench/codebook_conv.py: one conv layer with a codebook weight, run by
the Numba codebook kernel, by the dense Numba int8 qconv2d on the same weights
(codebook[indices] as int8) and by ONNX Runtime's QLinearConv (u8 × s8) on them."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from qcompiler.backends.numba.codebook_conv import codebook_qconv2d_numba
from qcompiler.backends.numba.ops import INTEGER_STEPS
from qcompiler.ir.core import Graph
from qcompiler.ir.dense import Dense
from qcompiler.ir.types import QuantType
from qcompiler.numerics.codebook_conv import Requant, Window
from qcompiler.numerics.fixed_point import quantize_multiplier

S_X, ZP_X, S_W = 0.02, 128, 0.003


def _qtype(storage, shape, scale, zp=0):
    return QuantType(storage, "f32", shape, np.float32(scale), np.int32(zp))


def layer_case(rng, batch, cin, cout, size, words, stride=1):
    """The runs of one layer: (name, {implementation: callable}, multiplies per implementation)."""
    x = rng.integers(0, 256, (batch, cin, size, size)).astype(np.uint8)
    codebook = rng.integers(-31, 32, (words, 3, 3))
    indices = rng.integers(0, words, (cout, cin))
    weight = codebook[indices].astype(np.int8)
    out = (size + 2 - 3) // stride + 1
    typical = np.sqrt(cin * 9) * 255 / np.sqrt(12) * weight.std()
    y_scale = float(S_X * S_W * typical / 40)
    mult, shift = quantize_multiplier(np.full(cout, S_X * S_W / y_scale))
    requant = Requant(mult.astype(np.int64), shift.astype(np.int64), ZP_X, 0, 255, "half_even")
    window = Window(stride=(stride, stride), pad=(1, 1, 1, 1))

    g = Graph("dense")
    xv = g.add_input("x", _qtype("u8", x.shape, S_X, ZP_X))
    wv = g.constant(weight, type=_qtype("i8", weight.shape, S_W))
    attrs = {"pad": [1, 1, 1, 1], "stride": [stride, stride], "multiplier": Dense(mult), "shift": Dense(shift),
             "rounding": "half_even", "clamp": [0, 255]}
    node = g.add("qconv2d", [xv, wv], attrs, output_types=[_qtype("u8", (batch, cout, out, out), y_scale, ZP_X)])
    dense = INTEGER_STEPS["qconv2d"](node)
    session = _qlinearconv(x, weight, y_scale, stride, (batch, cout, out, out))
    runs = {
        "numba codebook": lambda: codebook_qconv2d_numba(x, ZP_X, codebook, indices, None, window, requant),
        "numba dense i8": lambda: dense([x, weight])[0],
        "onnxruntime QLinearConv u8s8": lambda: session.run(None, {"x": x})[0],
    }
    positions = batch * out * out
    multiplies = {"numba codebook": cin * words * positions * 9, "numba dense i8": cout * cin * positions * 9,
                  "onnxruntime QLinearConv u8s8": cout * cin * positions * 9}
    name = f"{batch}×{cin}×{size}×{size}, 3×3, {cin}→{cout}{', stride 2' if stride > 1 else ''}, K={words}"
    return name, runs, multiplies


def _qlinearconv(x, weight, y_scale, stride, y_shape) -> ort.InferenceSession:
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"], pads=[1, 1, 1, 1],
                            strides=[stride, stride])
    inits = {"xs": np.float32(S_X), "xz": np.uint8(ZP_X), "w": weight, "ws": np.float32(S_W), "wz": np.int8(0),
             "ys": np.float32(y_scale), "yz": np.uint8(ZP_X)}
    graph = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.UINT8, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, y_shape)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
