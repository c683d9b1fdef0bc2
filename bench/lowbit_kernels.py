"""Bit-serial Numba kernels (1- and 2-bit weights, 1-8-bit activations) against the Numba int8
(u8×s8 VNNI) kernel on the same shapes.

    python bench/lowbit_kernels.py [--repeats 30] [--no-write]

qconv2d 1×64×56×56 3×3 64→64 pad 1 and qlinear 64×1024→1024 (the shapes of
bench/numba_kernels.py) as WxAy: W1 = b1 weights (±1), W2 = i2, A8 = u8, A2 = u2 and A1 =
binary ±1 activations. The int8 and the A2/A8 rows time the prepared node (centring,
padding, layout, kernel, requantization); the A1 rows time the same steps called directly
(`ops/bitserial.py`: `run_bitserial_conv` / `run_bitserial_linear` on the ±1 storage). On AVX-512
VNNI hosts W2A2 takes the paired-position kernel (`ops/lowbit_pairs.py`) when its weights are
small enough; the W2A2 rows are also timed on the popcount tile ("W2A2 popcount"). Every
row's result is u8 (requantized) except "W1A1 → b1": a binary result, as between the layers
of a binarized network, thresholded on the accumulator in the kernel (ops/binary_results.py).
Speed-ups are ratios of the median process CPU time of interleaved runs after warm-up,
1 Numba thread (the machine is shared). A second table times the two register tiles
alone on data in cache: the popcount tile (`kernels/bitserial_tile.py`) per WxAy and the
VNNI tile (`kernels/vnni_tile.py`) and the paired-position tile (`kernels/lowbit_pair_tile.py`,
"W2A2 pairs"), in products per CPU second.
Writes its section of bench/RESULTS.md unless --no-write.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # see bench/numba_kernels.py

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved_samples, markdown_table, numba_run_note, write_section  # noqa: E402

from qcompiler.backends.numba.kernels.bitserial_tile import WIDTH as BIT_WIDTH, popcount_tile  # noqa: E402
from qcompiler.backends.numba.kernels.lowbit_pair_tile import ROWS as PAIR_ROWS, WIDTH as PAIR_WIDTH  # noqa: E402
from qcompiler.backends.numba.kernels.lowbit_pair_tile import pair_tile  # noqa: E402
from qcompiler.backends.numba.ops import bitserial as bitserial_ops  # noqa: E402
from qcompiler.backends.numba.ops.lowbit_pairs import PAIRED_STORAGES  # noqa: E402
from qcompiler.backends.numba.kernels.vnni_tile import WIDTH as VNNI_WIDTH, tile_u8_vectors  # noqa: E402
from qcompiler.backends.numba.ops import INTEGER_STEPS  # noqa: E402
from qcompiler.backends.numba.ops.binary_results import binary_result  # noqa: E402
from qcompiler.backends.numba.ops.bitserial import bitserial_plan, run_bitserial_conv, run_bitserial_linear  # noqa
from qcompiler.backends.numba.ops.common import requant_of, storage_dtype  # noqa: E402
from qcompiler.backends.numba.weights import pack_weight_rows  # noqa: E402
from qcompiler.ir.core import Graph  # noqa: E402
from qcompiler.ir.dense import Dense  # noqa: E402
from qcompiler.ir.types import STORAGE_BITS, STORAGE_RANGES, QuantType  # noqa: E402
from qcompiler.numerics.fixed_point import quantize_multiplier  # noqa: E402

HEADING = "Bit-serial popcount tiles, outputs as lanes: W1A1 … W2A8 vs the VNNI int8 kernel (issue 14, item 3)"
FLAGS = ("avx2", "avx512_vnni", "avx512_vpopcntdq", "avx512bw")  # the CPU flags the kernels can use
RNG = np.random.default_rng(0)
ZERO_POINTS = {"u8": 128, "u2": 2, "b1": 0}
# name -> (activation storage, weight storage); the goals of issue 14: binary >= 2x, 2-bit >= 1.5x
COMBINATIONS = {"W1A1": ("b1", "b1"), "W1A2": ("u2", "b1"), "W2A1": ("b1", "i2"), "W2A2": ("u2", "i2"),
                "W1A8": ("u8", "b1"), "W2A8": ("u8", "i2")}
BINARY_RESULT = "W1A1 → b1"  # COMBINATIONS' W1A1 with a b1 result
GOALS = {"b1": 2.0, "i2": 1.5}
SHAPES = {
    "qconv2d 1×64×56×56, 3×3, 64→64, pad 1": ("qconv2d", (1, 64, 56, 56), (64, 64, 3, 3), (1, 64, 56, 56),
                                             {"pad": [1, 1, 1, 1]}, 64 * 64 * 9 * 56 * 56),
    "qlinear 64×1024 → 1024": ("qlinear", (64, 1024), (1024, 1024), (64, 1024), {}, 64 * 1024 * 1024),
}


def qtype(storage, shape, scale, zp, axis=None):
    return QuantType(storage, "f32", shape, np.asarray(scale, np.float32), np.asarray(zp, np.int32), axis)


def random_storage(storage, shape):
    if storage == "b1":
        return RNG.choice(np.int32([-1, 1]), shape)
    lo, hi = STORAGE_RANGES[storage]
    return RNG.integers(lo, hi + 1, shape).astype(np.int32)


def node_and_inputs(op, act, w_storage, x_shape, w_shape, out_shape, attrs):
    """A one-node graph (its node) and its run-time inputs (storage, weights, bias). Binary
    activations cannot type a node: it is built with u2 ones and the caller swaps them."""
    x = random_storage(act, x_shape).astype(storage_dtype(qtype(act, x_shape, 1, 0)))  # the executor's container
    w = random_storage(w_storage, w_shape)
    cout, k = w_shape[0], int(np.prod(w_shape[1:]))
    w_scale = np.full(cout, 0.01, np.float32)
    bias = RNG.integers(-2000, 2000, cout).astype(np.int32)
    lo, hi = STORAGE_RANGES[act]
    typical = np.sqrt(k) * max(hi - lo, 1) / np.sqrt(12) * max(w.std(), 0.5)
    mult, shift = quantize_multiplier(np.full(cout, 40 / typical))
    g = Graph(op)
    xv = g.add_input("x", qtype("u2" if act == "b1" else act, x_shape, 0.02, ZERO_POINTS[act]))
    wv = g.constant(w, type=qtype(w_storage, w_shape, w_scale, np.zeros(cout), axis=0))
    bv = g.constant(bias, type=qtype("i32", (cout,), 0.02 * w_scale, np.zeros(cout), axis=0))
    node = g.add(op, [xv, wv, bv], {**attrs, "multiplier": Dense(mult), "shift": Dense(shift),
                                    "rounding": "half_even", "clamp": [0, 255]},
                 name="y", output_types=[qtype("u8", out_shape, 0.05, 128)])
    return node, [x, w, bias]


def binary_activation_run(node, inputs, pad, binary_result_too=False):
    """The bit-serial steps of `node` on ±1 activations, called directly; with binary_result_too, its
    result retyped b1 at zero point 0 (the sign of the requantized value: a threshold)."""
    x, w, bias = inputs
    w_t = node.inputs[1].type
    cout = w_t.shape[0]
    weights = pack_weight_rows(w.reshape(cout, -1), w_t, np.zeros(cout, np.int32), "bench")
    rq, finish = requant_of(node, cout), (lambda y: y)
    if binary_result_too:
        node.outputs[0].type = qtype("b1", node.outputs[0].type.shape, 0.05, 0)
        rq, finish = binary_result(node, rq, 1 if node.op == "qconv2d" else -1)
    x_t = qtype("b1", x.shape, 0.02, 0)
    if node.op == "qlinear":
        plan = bitserial_plan(w_t, weights, x_t, 1)
        return lambda: run_bitserial_linear(plan, x, bias, rq, finish)
    kernel = tuple(w_t.shape[2:])
    plan = bitserial_plan(w_t, weights, x_t, 1, kernel)

    out_hw = (x.shape[2] + 2 * pad - kernel[0] + 1, x.shape[3] + 2 * pad - kernel[1] + 1)
    return lambda: run_bitserial_conv(plan, x, "zeros", (pad, pad), (pad, pad), (1, 1), (1, 1), out_hw, bias, rq,
                                      finish)


@contextlib.contextmanager
def popcount_only():
    """Plans made inside take the popcount tile, not the paired-position kernel."""
    original = bitserial_ops.pairs_plan
    bitserial_ops.pairs_plan = lambda *args: None
    try:
        yield
    finally:
        bitserial_ops.pairs_plan = original


def _prepared_run(op, label, act, w_storage, shapes, attrs):
    node, inputs = node_and_inputs(op, act, w_storage, *shapes, attrs)
    if act == "b1":
        return binary_activation_run(node, inputs, attrs.get("pad", [0])[0], label == BINARY_RESULT)
    step = INTEGER_STEPS[op](node)
    return lambda: step(inputs)


def kernel_rows(repeats):
    rows = []
    for name, (op, x_shape, w_shape, out_shape, attrs, macs) in SHAPES.items():
        runs = {}
        labels = {"int8 VNNI": ("u8", "i8"), **COMBINATIONS, BINARY_RESULT: COMBINATIONS["W1A1"]}
        shapes = (x_shape, w_shape, out_shape)
        for label, (act, w_storage) in list(labels.items()):
            runs[label] = _prepared_run(op, label, act, w_storage, shapes, attrs)
            if act in PAIRED_STORAGES and w_storage in PAIRED_STORAGES:
                labels[f"{label} popcount"] = (act, w_storage)
                with popcount_only():
                    runs[f"{label} popcount"] = _prepared_run(op, label, act, w_storage, shapes, attrs)
        samples = interleaved_samples(runs, repeats)
        cpu = {k: sorted(c for _, c in t)[len(t) // 2] * 1e3 for k, t in samples.items()}
        for label in runs:
            act, w_storage = labels[label]
            ratio = cpu["int8 VNNI"] / cpu[label]
            goal = GOALS.get(w_storage)
            verdict = "-" if goal is None else f"{'met' if ratio >= goal else 'missed'} (>= {goal}x)"
            rows.append([name, label, f"{cpu[label]:.3f}", f"{macs / cpu[label] / 1e6:.1f}",
                         "-" if label == "int8 VNNI" else f"{ratio:.2f}", verdict])
    return rows


@njit(cache=True)
def _popcount_tiles(rows, vectors, offsets, planes, out, reps):
    scale, offset = np.ones(4, np.int64), np.zeros(4, np.int64)
    for _ in range(reps):
        for b in range(out.shape[1] // BIT_WIDTH):
            popcount_tile(rows, vectors, b * BIT_WIDTH * 8, offsets, 8 * 4096, planes, offsets.size, out, b * BIT_WIDTH,
                          scale, offset)


@njit(cache=True)
def _pair_tiles(rows, vectors, offsets, out, reps):
    for _ in range(reps):
        for b in range(out.shape[1] // PAIR_WIDTH):
            pair_tile(rows, vectors, b * PAIR_WIDTH * 4, offsets, 0, offsets.size, 13, out, b * PAIR_WIDTH, 0)


@njit(cache=True)
def _vnni_tiles(rows, vectors, offsets, out, reps):
    for _ in range(reps):
        for b in range(out.shape[1] // VNNI_WIDTH):
            tile_u8_vectors(rows, vectors, b * VNNI_WIDTH * 4, offsets, 64, offsets.size, out, b * VNNI_WIDTH)


def tile_rows(repeats):
    """Products per CPU second of each register tile alone, K = 576 (the conv's 64 channels × 9 taps),
    256 positions, operands in cache."""
    k, positions, reps = 576, 256, 200
    offsets64 = (np.arange(k // 64) * 8 * 512).astype(np.int64)  # one 64-channel word per step
    offsets8 = (np.arange(k // 4) * 1024).astype(np.int64)       # four channels per step
    words = RNG.integers(0, 2**63, 8 * 4096 + 8 * 512 * 9 + 8 * positions, dtype=np.uint64)
    bytes_ = RNG.integers(0, 256, 1024 * (k // 4) + 4 * positions).astype(np.uint8)
    bit_rows = RNG.integers(0, 2**63, (4, k // 64), dtype=np.uint64)
    runs, products = {}, {}
    for label, (act, w_storage) in COMBINATIONS.items():
        planes, weight_planes = STORAGE_BITS[act], STORAGE_BITS[w_storage]
        out = np.empty((4, positions), np.int32)
        runs[label] = (lambda p=planes, o=out: _popcount_tiles(bit_rows, words, offsets64, p, o, reps))
        products[label] = 4 // weight_planes * positions * k * reps
    vnni_rows, vnni_out = RNG.integers(-128, 128, (4, k)).astype(np.int8), np.empty((4, positions), np.int32)
    runs["int8 VNNI"] = lambda: _vnni_tiles(vnni_rows, bytes_, offsets8, vnni_out, reps)
    products["int8 VNNI"] = 4 * positions * k * reps
    offsets2 = (np.arange(k // 2) * 1024).astype(np.int64)      # two channels per step
    pair_words = RNG.integers(-3, 4, 256 * (k // 2) + 2 * positions).astype(np.int32)
    pair_rows, pair_out = RNG.integers(-3, 4, (PAIR_ROWS, k // 2)).astype(np.int32), np.empty((PAIR_ROWS, positions),
                                                                                                np.int32)
    runs["W2A2 pairs"] = lambda: _pair_tiles(pair_rows, pair_words, offsets2, pair_out, reps)
    products["W2A2 pairs"] = PAIR_ROWS * positions * k * reps
    for run in runs.values():
        run()
    samples = interleaved_samples(runs, repeats)
    rate = {k_: products[k_] / (sorted(c for _, c in t)[len(t) // 2]) / 1e9 for k_, t in samples.items()}
    return [[label, f"{rate[label]:.0f}", "-" if label == "int8 VNNI" else f"{rate[label] / rate['int8 VNNI']:.2f}"]
            for label in ["int8 VNNI", *COMBINATIONS, "W2A2 pairs"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    numba.set_num_threads(1)
    load = Path("/proc/loadavg").read_text().split()[:3]
    started = time.time()
    kernels = markdown_table(["op", "weights × activations", "median CPU ms", "GMAC per CPU s",
                              "speed-up vs int8 VNNI", "goal"], kernel_rows(args.repeats), "llrrrl")
    tiles = markdown_table(["tile alone, K = 576", "GMAC per CPU s", "vs VNNI tile"], tile_rows(args.repeats), "lrr")
    note = numba_run_note(f"python bench/lowbit_kernels.py --repeats {args.repeats}", started, load, FLAGS)
    body = f"{note}\n\n{kernels}\n\n{tiles}\n"
    print(body)
    if not args.no_write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
