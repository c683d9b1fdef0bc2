"""Bit-serial Numba kernels (b1, i2 weights) against the Numba int8 kernel on the same shapes.

    python bench/lowbit_kernels.py [--repeats 20] [--no-write]

qconv2d 1×64×56×56 3×3 64→64 and qlinear 64×1024→1024 (the shapes of bench/numba_kernels.py),
each at 8-, 4- and 2-bit activations: the i8-weight node runs the backend's int8 path
(the u8×s8 VNNI kernels where the host has them), i2 and b1 nodes the bit-serial kernels
(`kernels/bitserial.py`), whose work grows with activation planes × weight planes. On
AVX-512 BW hosts both are also timed on the int16 4×4 tile kernels (`kernels/conv_im2col.py`,
`kernels/linear.py`: the int8 path before the VNNI kernels) as a second baseline. Times are the prepared node (centring,
padding, planes, kernel, requantization): the median process CPU time (what the
speed-ups compare: the shared machine preempts wall time) and the fastest wall time of
interleaved runs after warm-up, at 1 and 2 Numba threads. A last table times
popcount(a AND b) summed over 2^20 words: llvm.ctpop (what the kernels use) vs SWAR
bit tricks, both in a plain njit loop. Writes its section of bench/RESULTS.md unless --no-write.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # see bench/numba_kernels.py

import numba  # noqa: E402
import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import njit, types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, interleaved_samples, markdown_table, write_section  # noqa: E402

from qcompiler.backends.numba.kernels.conv_im2col import qconv2d_im2col_tiled_kernel  # noqa: E402
from qcompiler.backends.numba.kernels.linear import qproduct_tiled_kernel  # noqa: E402
from qcompiler.backends.numba.kernels.tile16 import HAS_AVX512BW, LANES  # noqa: E402
from qcompiler.backends.numba.ops import INTEGER_STEPS  # noqa: E402
from qcompiler.backends.numba.ops.common import attrs_of, requant_of, zero_point  # noqa: E402
from qcompiler.backends.numba.ops.products import conv_input  # noqa: E402
from qcompiler.backends.numba.weights import centred_int16_rows, pack_weight_rows, tiled_rows16  # noqa: E402
from qcompiler.ir.core import Graph  # noqa: E402
from qcompiler.ir.dense import Dense  # noqa: E402
from qcompiler.ir.types import STORAGE_RANGES, QuantType  # noqa: E402
from qcompiler.numerics.fixed_point import quantize_multiplier  # noqa: E402

HEADING = "Bit-serial Numba kernels: 1- and 2-bit weights vs the Numba int8 kernel (issue 14, item 3)"
RNG = np.random.default_rng(0)
ACTIVATIONS = {"u8": 128, "u4": 8, "u2": 2}


def qtype(storage, shape, scale, zp, axis=None):
    return QuantType(storage, "f32", shape, np.asarray(scale, np.float32), np.asarray(zp, np.int32), axis)


def weight_storage(storage, shape):
    if storage == "b1":
        return RNG.choice(np.int32([-1, 1]), shape)
    lo, hi = STORAGE_RANGES[storage]
    return RNG.integers(lo, hi + 1, shape).astype(np.int32)


def node_and_inputs(op, act, w_storage, x_shape, w_shape, out_shape, attrs):
    """A one-node graph (its node) and its run-time inputs (storage, weights, bias)."""
    lo, hi = STORAGE_RANGES[act]
    x = RNG.integers(lo, hi + 1, x_shape).astype(np.int32)
    w = weight_storage(w_storage, w_shape)
    cout, k = w_shape[0], int(np.prod(w_shape[1:]))
    w_scale = np.full(cout, 0.01, np.float32)
    bias = RNG.integers(-2000, 2000, cout).astype(np.int32)
    typical = np.sqrt(k) * (hi - lo) / np.sqrt(12) * max(w.std(), 0.5)
    mult, shift = quantize_multiplier(np.full(cout, 40 / typical))
    g = Graph(op)
    xv = g.add_input("x", qtype(act, x_shape, 0.02, ACTIVATIONS[act]))
    wv = g.constant(w, type=qtype(w_storage, w_shape, w_scale, np.zeros(cout), axis=0))
    bv = g.constant(bias, type=qtype("i32", (cout,), 0.02 * w_scale, np.zeros(cout), axis=0))
    node = g.add(op, [xv, wv, bv], {**attrs, "multiplier": Dense(mult), "shift": Dense(shift),
                                    "rounding": "half_even", "clamp": [0, 255]},
                 name="y", output_types=[qtype("u8", out_shape, 0.05, 128)])
    return node, [x, w, bias]


def step_and_inputs(op, act, w_storage, x_shape, w_shape, out_shape, attrs):
    """The prepared node of `node_and_inputs` and its run-time inputs."""
    node, inputs = node_and_inputs(op, act, w_storage, x_shape, w_shape, out_shape, attrs)
    return INTEGER_STEPS[op](node), inputs


SHAPES = {
    "qconv2d 1×64×56×56, 3×3, 64→64, pad 1": ("qconv2d", (1, 64, 56, 56), (64, 64, 3, 3), (1, 64, 56, 56),
                                             {"pad": [1, 1, 1, 1]}, 64 * 64 * 9 * 56 * 56),
    "qlinear 64×1024 → 1024": ("qlinear", (64, 1024), (1024, 1024), (64, 1024), {}, 64 * 1024 * 1024),
}


def int16_tile(node, inputs):
    """The int16 4×4 tile kernel (`kernels/conv_im2col.py` for the conv, `kernels/linear.py`
    for the linear) on the i8 node: the int8 path before the u8×s8 VNNI kernels, kept as a
    second baseline."""
    x_t, w_t = node.inputs[0].type, node.inputs[1].type
    cout = w_t.shape[0]
    weights = pack_weight_rows(inputs[1].reshape(cout, -1), w_t, np.zeros(cout, np.int32), "bench")
    rows16 = tiled_rows16(centred_int16_rows(weights), 1, LANES)
    rq = requant_of(node, cout)
    x, bias = inputs[0], inputs[2]

    def conv():
        kernel = tuple(w_t.shape[2:])
        xc, out_hw, stride, dilation = conv_input(node, attrs_of(node), x_t, x, kernel, np.int16)
        out = np.empty((xc.shape[0], cout) + out_hw, np.int32)
        qconv2d_im2col_tiled_kernel(xc, rows16, kernel[0], kernel[1], stride[0], stride[1], dilation[0], dilation[1],
                                    bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode, out)
        return out

    def linear():
        xc = np.zeros((1, -(-x.shape[0] // 4) * 4, rows16.shape[-1]), np.int16)
        xc[0, :x.shape[0], :x.shape[1]] = x - zero_point(x_t)
        out = np.empty((1, x.shape[0], cout), np.int32)
        qproduct_tiled_kernel(xc, rows16[0], bias, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.mode,
                              out)
        return out[0]

    return conv if node.op == "qconv2d" else linear


def kernel_rows(repeats):
    rows = []
    for name, (op, x_shape, w_shape, out_shape, attrs, macs) in SHAPES.items():
        for act in ACTIVATIONS:
            runs = {}
            for w_storage in ("i8", "i2", "b1"):
                node, inputs = node_and_inputs(op, act, w_storage, x_shape, w_shape, out_shape, attrs)
                step = INTEGER_STEPS[op](node)
                runs[w_storage] = (lambda s=step, a=inputs: s(a))
                if w_storage == "i8" and HAS_AVX512BW:
                    runs["i8 int16 tile"] = int16_tile(node, inputs)
                    assert np.array_equal(runs["i8 int16 tile"](), step(inputs)[0])
            for threads in (1, 2):
                numba.set_num_threads(threads)
                samples = interleaved_samples(runs, repeats)
                best = {k: min(w for w, _ in t) * 1e3 for k, t in samples.items()}
                cpu = {k: sorted(c for _, c in t)[len(t) // 2] * 1e3 for k, t in samples.items()}
                for w_storage in runs:
                    ratios = [f"{cpu[base] / cpu[w_storage]:.2f}" if w_storage in ("i2", "b1") else "-"
                              for base in ("i8", "i8 int16 tile") if base in runs]
                    rows.append([name, f"{act} / {w_storage}", threads, f"{best[w_storage]:.2f}",
                                 f"{cpu[w_storage]:.2f}", f"{macs / cpu[w_storage] / 1e6:.1f}", *ratios])
    return rows


@intrinsic
def _ctpop(typingctx, x):
    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, args)
    return types.uint64(types.uint64), codegen


@njit(cache=True)
def popcount_ctpop(a, b):
    total = np.uint64(0)
    for i in range(a.size):
        total += _ctpop(a[i] & b[i])
    return total


@njit(cache=True)
def popcount_swar(a, b):
    total = np.uint64(0)
    for i in range(a.size):
        v = a[i] & b[i]
        v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
        v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
        v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        total += (v * np.uint64(0x0101010101010101)) >> np.uint64(56)
    return total


def popcount_rows(repeats):
    a, b = (RNG.integers(0, 2**63, 2**20, dtype=np.uint64) for _ in range(2))
    assert popcount_ctpop(a, b) == popcount_swar(a, b)
    samples = interleaved_samples({"llvm.ctpop": lambda: popcount_ctpop(a, b),
                                   "SWAR": lambda: popcount_swar(a, b)}, repeats)
    return [[name, f"{sorted(w for w, _ in t)[len(t) // 2] * 1e3:.3f}",
             f"{2**26 / sorted(w for w, _ in t)[len(t) // 2] / 1e9:.1f}"] for name, t in samples.items()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[:3]
    kernels = markdown_table(["op", "activations / weights", "threads", "min wall ms", "median CPU ms",
                              "GMAC per CPU s", "CPU speed-up vs i8 step", "vs i8 int16 tile"],
                             kernel_rows(args.repeats), "llrrrrrr")
    popcounts = markdown_table(["popcount(a & b), 2^20 words", "median ms", "Gbit/s"], popcount_rows(args.repeats),
                               "lrr")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    cpu = cpu_description(("avx2", "avx512_vnni", "avx512_vpopcntdq", "avx512bw"))
    body = (f"Command (from the repository root): `python bench/lowbit_kernels.py --repeats {args.repeats}` "
            f"({date.today()}, bench at commit {commit}); load average at start {' '.join(load)} on the shared "
            f"2-core machine, so wall times are inflated: speed-ups are ratios of the median process CPU time "
            f"(summed over threads), wall times the fastest of the interleaved runs.\n\n"
            f"CPU: {cpu}; numba {numba.__version__} ({numba.threading_layer()} threading layer)\n\n"
            f"{kernels}\n\n{popcounts}\n")
    print(body)
    if not args.no_write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
