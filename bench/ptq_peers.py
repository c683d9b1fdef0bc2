"""Post-training int8 quantization against peers on real digits (mnist5k.npz): fp32 torch
and ONNX Runtime, PyTorch FX quantization, ONNX Runtime quantize_static (QDQ and
QOperator, U8S8, per-channel, three calibration methods) and qcompiler (Numba backend and
exported QOperator and QDQ ONNX in ORT), all on one small ResNet trained here with a fixed seed.

    python bench/ptq_peers.py [--data PATH] [--epochs 10] [--repeats 50] [--target T] [--no-write]

Prints a markdown table (accuracy on the 1,000 test digits, model bytes, latency at batch
64), a table of top-1 agreement with fp32 and logits SQNR, ORT's profiler by op type (time
and node count, i.e. the fused kernels it runs), and, unless --no-write, puts them in
bench/RESULTS.md. qcompiler compiles for --target (default: x86-vnni where the
CPU has VNNI, else x86-avx2). Skips (exit 0) without the data.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path
from typing import Callable

# Numba on one thread, off OpenMP: its OpenMP workers share libgomp with torch and, once
# started, made the torch rows timed next to them ~10x slower (docs/numba-backend.md).
os.environ["NUMBA_NUM_THREADS"] = "1"
os.environ["NUMBA_THREADING_LAYER"] = "workqueue"

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

import qcompiler  # noqa: E402
from qcompiler.pipelines import insert_after  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ort_ptq  # noqa: E402
import _qcompiler_ptq  # noqa: E402
from _common import (cpu_description, interleaved_median_ms, interleaved_samples, markdown_table,  # noqa: E402
                     write_section)
from _mnist_resnet import load_mnist5k, train_resnet  # noqa: E402
from _ptq_report import Row, goals, kernel_breakdown, kernel_scaling, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist5k.npz"
HEADING = "Post-training int8 vs peers (mnist5k)"
CALIBRATION_IMAGES = 256
BATCH = 64
# calibration of the qcompiler rows: the method, and a clip-search run after it (or none)
QCOMPILER_CALIBRATIONS = (("minmax", ""), ("mse", ""), ("mse", "clip-search{scored=256}"))
PROFILED_PEERS = ("ORT quantize_static QDQ U8S8, MinMax", "ORT quantize_static QOperator U8S8, MinMax")
# the exports timed per calibration: (form, the qoperator layout asked for, shown as); the
# layout each ended up in is read back from the file and shown in the row's name
EXPORTS = (("qoperator", None, "QOperator (default layout)"), ("qoperator", False, "QOperator"),
           ("qdq", None, "QDQ"))


def accuracy(predict: Callable, x: np.ndarray, y: np.ndarray) -> float:
    logits = np.concatenate([np.asarray(predict(x[i:i + BATCH])) for i in range(0, len(x), BATCH)])
    return float((logits.argmax(1) == y).mean() * 100)


def torch_bytes(model: torch.nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def torch_predict(model: torch.nn.Module) -> Callable:
    def run(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()
    return run


def fx_int8(model: torch.nn.Module, calibration: np.ndarray) -> torch.nn.Module:
    """PyTorch's own post-training path: FX graph mode with the default x86 qconfig
    (histogram observer with reduce_range on activations, per-channel symmetric weights)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in 2.13 but works
        warnings.simplefilter("ignore")
        prepared = prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping("x86"),
                              example_inputs=(torch.from_numpy(calibration[:1]),))
        with torch.inference_mode():
            for i in range(0, len(calibration), BATCH):
                prepared(torch.from_numpy(calibration[i:i + BATCH]))
        return convert_fx(prepared)


def export_fp32(model: torch.nn.Module, example: np.ndarray, path: Path) -> Path:
    """torch.onnx.export (the dynamo exporter, which folds BN into the convs), batch dynamic."""
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(example),), str(path), input_names=["x"],
                          output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},))
    return path


def peer_rows(model: torch.nn.Module, data: dict, work: Path) -> tuple[list, str]:
    """fp32 and peer rows, and a sentence on whether ORT's Entropy calibration gave
    different quantization parameters than MinMax."""
    calibration = data["x_train"][:CALIBRATION_IMAGES]
    fp32_onnx = export_fp32(model, data["x_test"][:BATCH], work / "fp32.onnx")
    prepared = _ort_ptq.preprocess(fp32_onnx, work / "fp32.prep.onnx")
    fx = fx_int8(model, calibration)
    rows = [Row("fp32 — torch", "fp32", torch_predict(model), torch_bytes(model), own_runtime=torch_predict(model)),
            Row("fp32 — ONNX in ORT", "fp32", _ort_ptq.predictor(_ort_ptq.session(fp32_onnx, 0)),
                fp32_onnx.stat().st_size, onnx=fp32_onnx),
            Row("PyTorch FX int8, default x86 qconfig — torch", "peer", torch_predict(fx), torch_bytes(fx),
                own_runtime=torch_predict(fx))]
    quantized = {}
    for fmt in _ort_ptq.FORMATS:
        for method in _ort_ptq.CALIBRATION_METHODS:
            path = _ort_ptq.quantize_u8s8(prepared, work / f"ort.{fmt}.{method}.onnx", fmt, method, calibration)
            quantized[fmt, method] = path
            rows.append(Row(f"ORT quantize_static {fmt} U8S8, {method} — ORT", "peer",
                            _ort_ptq.predictor(_ort_ptq.session(path, 0)), path.stat().st_size, onnx=path))
    checks = []
    for fmt in _ort_ptq.FORMATS:
        differ = _ort_ptq.differing_parameters(quantized[fmt, "MinMax"], quantized[fmt, "Entropy"])
        total = len(_ort_ptq.quantization_parameters(quantized[fmt, "MinMax"]))
        checks.append(f"{fmt}: {len(differ)} of {total} scale/zero-point initializers differ")
    return rows, "; ".join(checks)


def qcompiler_rows(model: torch.nn.Module, data: dict, work: Path, target: str) -> list:
    calibration = data["x_train"][:CALIBRATION_IMAGES]
    rows = []
    for k, (method, clip_search) in enumerate(QCOMPILER_CALIBRATIONS):
        pipeline = _qcompiler_ptq.pipeline_with(target, method)
        if clip_search:
            pipeline = ",".join(insert_after(pipeline, "calibrate", clip_search))
        label = f"qcompiler int8 {target}, calibrate{{method={method}}}" + (f", {clip_search}" if clip_search else "")
        cm = qcompiler.compile(model, target=target, example_inputs=torch.from_numpy(data["x_test"][:1]),
                               calibration=calibration, pipeline=pipeline, progress=False)
        rows.append(Row(f"{label} — Numba", "ours", cm, _qcompiler_ptq.graph_bytes(cm, work / f"qcompiler.{k}"),
                        own_runtime=cm))
        for j, (form, channels_last, shown) in enumerate(EXPORTS):
            path, layout = _qcompiler_ptq.export_layout(cm, work / f"qcompiler.{k}.{j}.onnx", form, channels_last)
            rows.append(Row(f"{label} → {shown}, {layout} ONNX — ORT", "ours",
                            _ort_ptq.predictor(_ort_ptq.session(path, 0)), path.stat().st_size, onnx=path))
    return rows


def logits(predict: Callable, x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(predict(x[i:i + BATCH])) for i in range(0, len(x), BATCH)])


def agreement_table(rows: list, x: np.ndarray, y: np.ndarray, reference: np.ndarray) -> str:
    """Per row: accuracy, top-1 agreement with fp32 torch, the test images whose top-1
    differs (with fp32's margin between its top two logits) and the SQNR of the logits."""
    top2 = np.sort(reference, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    body = []
    for r in rows:
        out = logits(r.predict, x)
        differ = np.nonzero(out.argmax(1) != reference.argmax(1))[0]
        sqnr = 10 * np.log10((reference ** 2).sum() / max(((out - reference) ** 2).sum(), 1e-30))
        body.append([r.name, f"{(out.argmax(1) == y).mean() * 100:.1f}",
                     f"{100 - 100 * len(differ) / len(x):.1f}",
                     ", ".join(f"{i} ({margin[i]:.3f})" for i in differ[:6]) + (" ..." if len(differ) > 6 else ""),
                     f"{sqnr:.2f}"])
    return markdown_table(["model — runtime", "test acc. %", "top-1 agreement with fp32 %",
                           "images that differ (fp32 top-2 logit margin)", "logits SQNR dB"], body, "lrrlr")


def latencies(rows: list, x: np.ndarray, repeats: int) -> dict:
    """Median ms at batch 64 per (row name, setting). One-thread runs take turns (see
    interleaved_samples) and also give their median process CPU time (settings "ort1cpu",
    "owncpu"), which other jobs preempting them on a shared machine do not inflate; so do
    two-thread ORT sessions whose workers sleep instead of spinning between runs ("ort2",
    "ort2cpu"); ORT's default-thread sessions are timed one after the other, because their
    worker threads keep spinning after a run and would slow the next one."""
    single = {(r.name, "ort1"): _ort_ptq.predictor(_ort_ptq.session(r.onnx, 1)) for r in rows if r.onnx}
    single.update({(r.name, "own"): r.own_runtime for r in rows if r.own_runtime})
    result = {}
    for (name, setting), times in interleaved_samples({key: (lambda fn=fn: fn(x)) for key, fn in single.items()},
                                                      repeats).items():
        result[name, setting] = statistics.median(wall for wall, _ in times) * 1e3
        result[name, setting + "cpu"] = statistics.median(cpu for _, cpu in times) * 1e3
    two = {r.name: _ort_ptq.predictor(_ort_ptq.session(r.onnx, 2, spinning=False)) for r in rows if r.onnx}
    for name, times in interleaved_samples({key: (lambda fn=fn: fn(x)) for key, fn in two.items()}, repeats).items():
        result[name, "ort2"] = statistics.median(wall for wall, _ in times) * 1e3
        result[name, "ort2cpu"] = statistics.median(cpu for _, cpu in times) * 1e3
    for r in rows:
        if r.onnx:
            run = _ort_ptq.predictor(_ort_ptq.session(r.onnx, 0))
            result[r.name, "ortN"] = interleaved_median_ms({"": lambda: run(x)}, repeats)[""]
    return result


def environment() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    return (f"CPU: {cpu_description()}; onnxruntime {ort.__version__}, torch {torch.__version__}, "
            f"numpy {np.__version__}; {date.today().isoformat()}, repository at commit {commit or 'unknown'}.")


def describe(argv: list, header: str, model: torch.nn.Module, epochs: int, repeats: int, seconds: dict,
             entropy_check: str) -> str:
    params = sum(p.numel() for p in model.parameters())
    return f"""Command (from the repository root): `{shlex.join(["python", "bench/ptq_peers.py", *argv])}`

{header} The 2-core machine was shared with other jobs (see the load average).

Model: 3-stage ResNet with BN ({params:,} parameters), trained {epochs} epochs on the 4,000 training
digits (seed 0, one torch thread, {seconds["train"]:.0f} s); accuracy on the 1,000 test digits (one image =
0.1 pt). Every quantizer calibrates on the same {CALIBRATION_IMAGES} images, train_idx[:{CALIBRATION_IMAGES}].
All int8 rows: activations u8 asymmetric per tensor (7-bit, `reduce_range`, in PyTorch's x86
qconfig), weights s8 symmetric per output channel.

Latency: batch {BATCH}, median of {repeats} runs after 3 warm-ups; the one-thread runs of all rows
take turns, so load from other jobs hits them alike; their process CPU time is shown too,
which preemption by other jobs does not inflate. The same for ORT sessions of two intra-op
threads whose workers sleep between runs (`session.intra_op.allow_spinning=0`, so that they can
take turns and their CPU time is work, not waiting). ORT's default threads (2 here, spinning):
each session timed alone, wall time. The speed goals: ≥ 2.0× fp32 and no slower
than the fastest peer, at one thread in CPU time and in wall time (PyTorch FX counts with its
own one-thread times), at two threads without spinning in CPU and wall time, and at ORT's default
threads in wall time. qcompiler exports: QOperator in the exporter's default layout (channels-last
where ORT then runs no Transpose, backends/onnx/channels_last.py) and forced channels-first, and QDQ;
each row names the layout its convolutions ended up in. Bytes: the ONNX file for ORT rows,
`torch.save(state_dict)` for torch rows, the compiled graph as .qir + .npz for Numba rows. Whole run: {seconds["total"]:.0f} s.

ORT's Entropy calibration: `quantize_static` offers no option for the histogram size, so
`create_calibrator` uses 128 bins and 128 quantized bins; the KL search then has a single
candidate, the whole histogram, which is clipped to the observed min/max — MinMax again.
Check on the quantized models: {entropy_check}. Percentile uses ORT's defaults (99.999, 2048 bins)."""


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="mnist5k.npz (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per latency (after 3 warm-ups)")
    parser.add_argument("--target", default=None, help="qcompiler's target (default: from the CPU flags)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"ptq_peers: skipped, no data at {args.data} (see shared/data/README.md; or pass --data PATH)")
        return 0

    torch.set_num_threads(1)  # two threads on a shared 2-core machine stall at every barrier
    header = environment()
    print(header, flush=True)
    data = load_mnist5k(args.data)
    start = time.perf_counter()
    model = train_resnet(data["x_train"], data["y_train"], epochs=args.epochs)
    seconds = {"train": time.perf_counter() - start}
    with tempfile.TemporaryDirectory() as tmp:
        rows, entropy_check = peer_rows(model, data, Path(tmp))
        rows += qcompiler_rows(model, data, Path(tmp), args.target or _qcompiler_ptq.target_for(header))
        for r in rows:
            r.accuracy = accuracy(r.predict, data["x_test"], data["y_test"])
        reference = logits(torch_predict(model), data["x_test"])
        agreement = agreement_table(rows, data["x_test"], data["y_test"], reference)
        ms = latencies(rows, data["x_test"][:BATCH], args.repeats)
        profiled = [r for r in rows if r.onnx and (r.kind != "peer" or r.name.startswith(PROFILED_PEERS))]
        profiles = {r.name: _ort_ptq.kernel_ms_by_op(r.onnx, data["x_test"][:BATCH]) for r in profiled}
        profiles_two = {r.name: _ort_ptq.kernel_ms_by_op(r.onnx, data["x_test"][:BATCH], threads=2) for r in profiled}
    seconds["total"] = time.perf_counter() - start
    report = "\n\n".join([describe(argv, header, model, args.epochs, args.repeats, seconds, entropy_check),
                           table(rows, ms), "Agreement with fp32 torch on the 1,000 test digits:", agreement,
                           "ORT's profiler, kernel time per run at batch 64 and the number of nodes of each op "
                           "type in the graph ORT runs (models profiled one after another: compare the shares "
                           "within a row more than totals across rows):",
                           kernel_breakdown(profiles),
                           "ORT's profiler at one and at two intra-op threads (no spinning), kernel time per run "
                           "(wall time of each node, so a second thread that starts late or idles shows here):",
                           kernel_scaling(profiles, profiles_two), "Goals:\n\n" + "\n".join(goals(rows, ms))])
    print(report)
    if not args.no_write:
        write_section(HEADING, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
