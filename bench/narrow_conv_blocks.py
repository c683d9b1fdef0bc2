"""ONNX Runtime's channels-last QLinearConv over C channels written plainly and over blocks of
B pixels of a row (B·C channels, backends/onnx/width_blocked_conv.py), one thread, interleaved.

    python bench/narrow_conv_blocks.py [--repeats 300] [--batch 64]

One 3×3 'same' conv C -> C per row of the table (u8 input, s8 weights with zero point 0, as
the x86 targets export), at the map size a small ResNet gives that width; the blocked models'
outputs are checked equal to the plain one's. Prints median process CPU ms per run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, interleaved_samples, markdown_table  # noqa: E402

from qcompiler.backends.onnx.width_blocked_conv import blocked_weights  # noqa: E402

SHAPES = ((4, 28), (8, 28), (16, 28), (32, 16), (64, 8))  # (channels, map size)
BLOCKS = (1, 2, 4)  # pixels per block; 1 is the plain conv


def conv_model(w: np.ndarray, pads: list, map_shape: tuple):
    """One com.microsoft QLinearConv (channels_last) with weights `w` over u8 [N, H, W, C]."""
    out_channels = w.shape[0]
    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "s"),
             numpy_helper.from_array(np.array(128, np.uint8), "z"), numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(np.full(out_channels, 0.01, np.float32), "ws"),
             numpy_helper.from_array(np.zeros(out_channels, np.int8), "wz")]
    node = helper.make_node("QLinearConv", ["x", "s", "z", "w", "ws", "wz", "s", "z"], ["y"], domain="com.microsoft",
                            channels_last=1, kernel_shape=list(w.shape[2:]), pads=pads)
    graph = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.UINT8, map_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"CPU: {cpu_description()}; onnxruntime {ort.__version__}")
    body = []
    for channels, size in SHAPES:
        w = rng.integers(-127, 128, (channels, channels, 3, 3)).astype(np.int8)
        x = rng.integers(0, 256, (args.batch, size, size, channels)).astype(np.uint8)
        runs = {}
        for block in BLOCKS:
            weights, (left, right) = (w, (1, 1)) if block == 1 else blocked_weights(w, np.zeros(channels, np.int8),
                                                                                    1, block)
            shape = (args.batch, size, size // block, channels * block)
            runs[block] = (conv_model(weights, [1, left, 1, right], shape), x.reshape(shape))
        plain = runs[1][0].run(None, {"x": runs[1][1]})[0]
        for block, (session, xb) in runs.items():
            assert np.array_equal(session.run(None, {"x": xb})[0].reshape(plain.shape), plain), (channels, block)
        calls = {block: (lambda session=session, xb=xb: session.run(None, {"x": xb}))
                 for block, (session, xb) in runs.items()}
        samples = interleaved_samples(calls, args.repeats, warmup=0)
        ms = {block: statistics.median(cpu for _, cpu in t) * 1e3 for block, t in samples.items()}
        body.append([f"{channels} -> {channels}, {size}×{size}", *(f"{ms[b]:.3f}" for b in BLOCKS),
                     *(f"{ms[1] / ms[b]:.2f}×" for b in BLOCKS[1:])])
    print(markdown_table(["3×3 conv, batch %d" % args.batch, "plain CPU ms", "2-pixel blocks", "4-pixel blocks",
                          "speed-up 2", "speed-up 4"], body, "lrrrrr"))
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
