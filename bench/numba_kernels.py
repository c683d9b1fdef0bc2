"""Numba integer kernels against peers: qconv2d and qlinear timed next to the float op in
torch and ONNX Runtime's QLinearConv / QLinearMatMul (U8S8) on one-node models, and end to
end on the digits ResNet of bench/ptq_peers.py (seeded, untrained weights: speed does not
depend on them) at batch 64 next to its QOperator and QDQ exports in ONNX Runtime.

    python bench/numba_kernels.py [--repeats 30] [--no-write]

Numba runs the prepared node (`qcompiler.backends.numba.ops`: centring, padding, the
kernel and requantization) on u8 storage, at 1 and 2 threads; torch (float32) and ONNX
Runtime run at 1 thread. JIT compilation and session creation happen before timing.
The last column compares each integer result with the Numba one: ONNX Runtime
requantizes in float, so it may differ by one step (docs/quantization.md, section 4).
Prints a markdown table and, unless --no-write, puts it in bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

# Numba's OpenMP layer shares libgomp with torch and leaves torch's later parallel
# regions slow (a 1-thread torch conv went from 1.1 ms to 42 ms after one Numba call);
# the workqueue layer does not touch OpenMP
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numba  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, interleaved_samples, markdown_table, write_section  # noqa: E402

from qcompiler.backends.numba.ops import INTEGER_STEPS  # noqa: E402
from qcompiler.ir.core import Graph  # noqa: E402
from qcompiler.ir.dense import Dense  # noqa: E402
from qcompiler.ir.types import QuantType  # noqa: E402
from qcompiler.numerics.fixed_point import quantize_multiplier  # noqa: E402

HEADING = "Numba integer kernels"
RNG = np.random.default_rng(0)
S_X, ZP_X = 0.02, 128


def qtype(storage, shape, scale, zp=0, axis=None):
    return QuantType(storage, "f32", shape, np.asarray(scale, np.float32), np.asarray(zp, np.int32), axis)


def weights(shape, bits):
    w = RNG.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), shape).astype(np.int32)
    w_scale = RNG.uniform(0.002, 0.004, shape[0]).astype(np.float32)
    return w, w_scale


def output_scale(w_scale, w, k):
    """An output scale putting the typical accumulator about 40 steps from the zero point."""
    typical = np.sqrt(k) * 255 / np.sqrt(12) * w.std()
    return float(S_X * w_scale.mean() * typical / 40)


def numba_step(op, x_shape, w, w_scale, w_storage, bias, attrs, y_scale, out_shape):
    g = Graph(op)
    x = g.add_input("x", qtype("u8", x_shape, S_X, ZP_X))
    wv = g.constant(w, type=qtype(w_storage, w.shape, w_scale, np.zeros(w.shape[0]), axis=0))
    operands = [x, wv]
    if bias is not None:
        operands.append(g.constant(bias, type=qtype("i32", bias.shape, S_X * w_scale, np.zeros(bias.size), axis=0)))
    mult, shift = quantize_multiplier(S_X * w_scale.astype(np.float64) / y_scale)
    attrs = {**attrs, "multiplier": Dense(mult), "shift": Dense(shift), "rounding": "half_even", "clamp": [0, 255]}
    node = g.add(op, operands, attrs, name="y", output_types=[qtype("u8", out_shape, y_scale, ZP_X)])
    return INTEGER_STEPS[op](node)


def ort_session(node, inits, x_shape, y_shape):
    graph = helper.make_graph([node], "one", [helper.make_tensor_value_info("x", TensorProto.UINT8, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, y_shape)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def conv_case():
    x_shape, w_shape = (1, 64, 56, 56), (64, 64, 3, 3)
    x = RNG.integers(0, 256, x_shape).astype(np.uint8)
    w, w_scale = weights(w_shape, 8)
    w4, w4_scale = weights(w_shape, 4)
    bias = RNG.integers(-20000, 20000, 64).astype(np.int32)
    y_scale = output_scale(w_scale, w, 576)
    attrs = {"pad": [1, 1, 1, 1]}
    step8 = numba_step("qconv2d", x_shape, w, w_scale, "i8", bias, attrs, y_scale, (1, 64, 56, 56))
    step4 = numba_step("qconv2d", x_shape, w4, w4_scale, "i4", bias, attrs, output_scale(w4_scale, w4, 576),
                       (1, 64, 56, 56))
    sess = ort_session(helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                                        pads=[1, 1, 1, 1]),
                       {"xs": np.float32(S_X), "xz": np.uint8(ZP_X), "w": w.astype(np.int8), "ws": w_scale,
                        "wz": np.zeros(64, np.int8), "ys": np.float32(y_scale), "yz": np.uint8(ZP_X), "b": bias}, x_shape, (1, 64, 56, 56))
    xf = torch.from_numpy((x.astype(np.float32) - ZP_X) * S_X)
    wf = torch.from_numpy(w.astype(np.float32) * w_scale[:, None, None, None])
    bf = torch.from_numpy((bias * S_X * w_scale).astype(np.float32))
    return {
        "name": "qconv2d 1×64×56×56, 3×3, 64→64, pad 1", "macs": 64 * 64 * 9 * 56 * 56,
        "numba i8": lambda: step8([x, w, bias])[0], "numba i4 (packed)": lambda: step4([x, w4, bias])[0],
        "onnxruntime QLinearConv u8s8": lambda: sess.run(None, {"x": x})[0],
        "torch f32 conv2d": lambda: torch.nn.functional.conv2d(xf, wf, bf, padding=1),
    }


def linear_case():
    m, k, n = 64, 1024, 1024
    x = RNG.integers(0, 256, (m, k)).astype(np.uint8)
    w, w_scale = weights((n, k), 8)
    w4, w4_scale = weights((n, k), 4)
    w_scale[:] = w_scale[0]  # QLinearMatMul takes one weight scale
    y_scale = output_scale(w_scale, w, k)
    step8 = numba_step("qlinear", (m, k), w, w_scale, "i8", None, {}, y_scale, (m, n))
    step4 = numba_step("qlinear", (m, k), w4, w4_scale, "i4", None, {}, output_scale(w4_scale, w4, k), (m, n))
    sess = ort_session(helper.make_node("QLinearMatMul", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"]),
                       {"xs": np.float32(S_X), "xz": np.uint8(ZP_X), "w": np.ascontiguousarray(w.T.astype(np.int8)),
                        "ws": np.float32(w_scale[0]), "wz": np.int8(0), "ys": np.float32(y_scale), "yz": np.uint8(ZP_X)}, (m, k), (m, n))
    xf = torch.from_numpy((x.astype(np.float32) - ZP_X) * S_X)
    wf = torch.from_numpy(w.astype(np.float32) * w_scale[0])
    return {
        "name": f"qlinear {m}×{k} → {n}", "macs": m * k * n,
        "numba i8": lambda: step8([x, w, None])[0], "numba i4 (packed)": lambda: step4([x, w4, None])[0],
        "onnxruntime QLinearMatMul u8s8": lambda: sess.run(None, {"x": x})[0],
        "torch f32 linear": lambda: torch.nn.functional.linear(xf, wf),
    }


def conv_linear_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of the model's Conv2d and Linear layers on input x."""
    total = []

    def count(module, _inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            total.append(output.numel() * module.in_channels // module.groups * np.prod(module.kernel_size))
        elif isinstance(module, torch.nn.Linear):
            total.append(output.numel() * module.in_features)

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return int(sum(total))


def torch_no_grad(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def digits_case(work: Path):
    import _qcompiler_ptq
    from _mnist_resnet import SmallResNet

    torch.manual_seed(0)
    model = SmallResNet().eval()
    x = RNG.standard_normal((64, 1, 28, 28)).astype(np.float32)
    target = _qcompiler_ptq.target_for(cpu_description(("avx512_vnni",)))
    cm = _qcompiler_ptq.compile_int8(model, target, "minmax", x, x)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sessions = {form: ort.InferenceSession(str(cm.export_onnx(work / f"digits_{form}.onnx", form=form)), opts,
                                           providers=["CPUExecutionProvider"]) for form in ("qoperator", "qdq")}
    name = sessions["qdq"].get_inputs()[0].name
    return {
        "name": f"digits ResNet end to end, batch 64 ({target})", "macs": conv_linear_macs(model, torch.from_numpy(x)),
        "numba i8": lambda: np.asarray(cm(x)),
        "onnxruntime QOperator export": lambda: sessions["qoperator"].run(None, {name: x})[0],
        "onnxruntime QDQ export": lambda: sessions["qdq"].run(None, {name: x})[0],
        "torch f32": lambda: torch_no_grad(model, x),
    }


def interleaved_times(runs: dict, repeats: int, warmup: int = 3) -> dict:
    """name -> (median wall ms, median process CPU ms)."""
    return {name: tuple(statistics.median(x[i] for x in t) * 1e3 for i in (0, 1))
            for name, t in interleaved_samples(runs, repeats, warmup).items()}


def agreement(result, reference) -> str:
    if result.dtype.kind == "f":  # logits: how far from the Numba model's
        return f"max abs logit diff {np.abs(result - reference).max():.3g}" if reference.dtype.kind == "f" else "float"
    diff = np.abs(np.asarray(result, np.int64) - np.asarray(reference, np.int64))
    return f"{np.mean(diff == 0) * 100:.1f}% equal, max {diff.max()}"


def run_case(case, repeats):
    runs = {k: v for k, v in case.items() if k not in ("name", "macs")}
    reference = np.asarray(runs["numba i8"]())
    rows = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        numba_only = {f"{k} [{threads}]": v for k, v in runs.items() if k.startswith("numba")}
        peers = {f"{k} [1]": v for k, v in runs.items() if not k.startswith("numba")} if threads == 1 else {}
        for label, (ms, cpu_ms) in interleaved_times({**numba_only, **peers}, repeats).items():
            name, threads_used = label.rsplit(" [", 1)
            result = np.asarray(runs[name]())
            same = agreement(result, reference) if "i4" not in name else "other weights"
            rows.append([case["name"], name, threads_used.rstrip("]"), f"{ms:.2f}", f"{cpu_ms:.2f}",
                         f"{case['macs'] / ms / 1e6:.1f}", same])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # qlinear first: run after the conv case in one process it took twice the CPU time
    # (3.3 instead of 1.5 ms; not alignment, not cache blocking: cause unknown)
    with tempfile.TemporaryDirectory() as work:
        rows = (run_case(linear_case(), args.repeats) + run_case(conv_case(), args.repeats)
                + run_case(digits_case(Path(work)), args.repeats))
    table = markdown_table(["op", "implementation", "threads", "median ms", "median CPU ms", "GMAC/s (wall)",
                            "vs Numba i8 result"], rows, "llrrrrl")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    cpu = cpu_description(("avx2", "avx512f", "avx512_vnni", "avx_vnni"))
    body = (f"Command (from the repository root): `python bench/numba_kernels.py --repeats {args.repeats}` "
            f"({date.today()}, bench at commit {commit}). Median of {args.repeats} interleaved runs after warm-up "
            f"(JIT compile, session creation and weight packing excluded); CPU ms is process CPU time, summed "
            f"over threads. The 2-core machine was shared with other jobs (see the load average): long runs "
            f"get preempted more often, so compare the CPU column too.\n\n"
            f"CPU: {cpu}; numba {numba.__version__} ({numba.threading_layer()} threading layer), torch {torch.__version__}, onnxruntime {ort.__version__}\n\n"
            f"{table}\n\n"
            "The Numba kernels are the bit-exact reference, not the deployment path. On hosts with AVX-512 VNNI, "
            "constant weights whose centred values fit int8 and activations of at most 8 bits run as u8 × s8 "
            "vpdpbusd tiles (`kernels/vnni_tile.py`, `kernels/conv_vnni.py`: the input laid out once per call as "
            "phase planes of channel quads, 16 words per IR step, 4 output channels × 64 positions per tile, the "
            "zero-point correction once per channel, each row's kept columns requantized 16 lanes at a time "
            "straight into the u8/i8 output); qlinear runs on the same kernel as a 1×1 convolution. Activations "
            "stay in their narrow storage container (uint8 for u8) between nodes, and convolutions under 32M "
            "multiply-adds skip the parallel launch. "
            "i4 weights are unpacked at load, so they cost what i8 weights do (other random weights). "
            "Hosts without VNNI use the int16 im2col / pmaddwd kernels. ONNX Runtime requantizes in float: rare "
            "one-step differences. Where a 2-thread row shows CPU ms ≈ wall ms, the second core was busy with other "
            "jobs.\n")
    print(body)
    if not args.no_write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
