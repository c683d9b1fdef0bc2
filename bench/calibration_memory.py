"""Memory and time of the `calibrate` pass against ONNX Runtime's calibration, each run in
its own child process whose peak RSS is the kernel's ru_maxrss for it (os.wait4).

- PP-OCRv4 rec (rapidocr_onnxruntime) on text lines 1x3x48x320: qcompiler's pipeline up
  to `calibrate` (only the pass is timed) with every method, and onnxruntime
  quantize_static (QDQ, u8 activations, s8 per-channel weights, MinMax) on the same lines;
  also the lines at varying widths (a list of [1, 3, 48, W] batches).
- VGG19 of onnx's light zoo (seeded random weights, qcompiler.testing.light_zoo) on
  224x224 images, min/max.

    python bench/calibration_memory.py [--lines 64] [--images 16] [--no-write]

A first child writes the models and data to a temporary folder (ONNX, and .qir imported
and run up to `calibrate`), so each measured child loads files only. Prints a markdown
table and, unless --no-write, puts it in bench/RESULTS.md. "process peak" is the child's
ru_maxrss (loading included); "peak during the call" is VmHWM reset just before the timed
call (calibrate, or quantize_static) and read after it; "RSS at its start" is VmRSS then.
Memory is in the kernel's KiB / 10^6 ("GB", as the issue quoted it).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, markdown_table, write_section  # noqa: E402

PREFIX = "fold-constants,canonicalize,fold-bn,fuse-activations,dce"
LINE = (3, 48, 320)


def rec_path() -> Path:
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"


def text_lines(n: int, widths=None) -> list:
    """Text-like lines: a light page with dark strokes, normalized as rapidocr does; one
    array [n, 3, 48, 320], or a list of [1, 3, 48, W] for each W of `widths`."""
    rng = np.random.default_rng(0)

    def line(w):
        img = np.full((LINE[1], w), 0.9, np.float32) + rng.normal(0, 0.03, (LINE[1], w)).astype(np.float32)
        for x0 in range(4, w - 8, 12):
            img[rng.integers(8, 16):rng.integers(32, 42), x0:x0 + rng.integers(2, 8)] = 0.1
        return np.repeat(((img - 0.5) / 0.5)[None], 3, axis=0)

    if widths is None:
        return np.stack([line(LINE[2]) for _ in range(n)])
    return [line(w)[None] for w in widths]


def status_gb(field: str) -> float:
    """VmRSS (RSS now) or VmHWM (peak RSS since start or the last reset_peak) in GB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1e6


def reset_peak() -> dict:
    """RSS now, then VmHWM reset to it (Linux clear_refs 5), so that VmHWM afterwards is
    the peak of what runs next alone, not of loading the model before it."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return {"resident": status_gb("VmRSS")}


def measured(start: dict, wall: float, cpu: float, chunks) -> dict:
    return {**start, "pass_peak": status_gb("VmHWM"), "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu, "chunks": chunks}


def prepare(folder: str, lines: int, images: int) -> None:
    """Write each model (rec, VGG19 with its weights) as ONNX and, imported and run up to
    `calibrate`, as .qir, with its data: the measured children then load files only, so
    their peak RSS is not an import's (VGG19's weights pass through several copies)."""
    import onnx
    from qcompiler.frontends.onnx import import_onnx
    from qcompiler.ir.serialize import save_qir
    from qcompiler.passmanager import PassContext, PassManager
    from qcompiler.targets import get_target
    from qcompiler.testing.light_zoo import light_images, light_model
    import qcompiler.passes  # noqa: F401  (registers the passes)

    onnx.save(light_model("vgg19"), os.path.join(folder, "vgg19.onnx"))
    np.save(os.path.join(folder, "vgg19.npy"), light_images(images))
    np.save(os.path.join(folder, "rec.npy"), text_lines(lines))
    widths = [160 + 32 * (i % 11) for i in range(lines)]
    np.savez(os.path.join(folder, "rec_varying.npz"), *text_lines(lines, widths))
    for model, source in (("rec", str(rec_path())), ("vgg19", os.path.join(folder, "vgg19.onnx"))):
        graph = import_onnx(source)  # VGG19 reshapes to [1, 25088]: its batch stays 1
        PassManager(PREFIX, []).run(graph, PassContext(target=get_target("generic")))
        save_qir(graph, os.path.join(folder, f"{model}.qir"))


def load_data(folder: str, model: str, varying: bool):
    if varying:
        with np.load(os.path.join(folder, f"{model}_varying.npz")) as z:
            return [z[k] for k in z.files]
    return np.load(os.path.join(folder, f"{model}.npy"))


def qcompiler_child(folder: str, model: str, method: str, varying: bool) -> dict:
    from qcompiler.ir.serialize import load_qir
    from qcompiler.passmanager import PassContext, PassManager
    from qcompiler.targets import get_target
    import qcompiler.passes  # noqa: F401  (registers the passes)

    graph, data = load_qir(os.path.join(folder, f"{model}.qir")), load_data(folder, model, varying)
    ctx = PassContext(target=get_target("generic"), calibration=data)
    manager = PassManager(f"calibrate{{method={method}}}", [])
    start = reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    manager.run(graph, ctx)
    return measured(start, wall, cpu, manager.history[-1].stats["chunks"])


def onnxruntime_child(folder: str, model: str) -> dict:
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    path = str(rec_path()) if model == "rec" else os.path.join(folder, "vgg19.onnx")
    data = load_data(folder, model, False)
    name = onnx.load(path, load_external_data=False).graph.input[0].name

    class OneAtATime(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{name: data[i:i + 1]} for i in range(len(data))])

        def get_next(self):
            return next(self.feeds, None)

    start = reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    quantize_static(path, os.path.join(folder, f"{model}_q.onnx"), OneAtATime(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    calibrate_method=CalibrationMethod.MinMax)
    return measured(start, wall, cpu, None)


def run_child(folder: str, args: list) -> dict:
    """Run this script as a child; its result plus the kernel's peak RSS for it."""
    tool, rest = args[0], args[1:]
    proc = subprocess.Popen([sys.executable, __file__, "--child", tool, folder, *rest], stdout=subprocess.PIPE,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"child {args} failed with status {status}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak": usage.ru_maxrss / 1e6}


def measure(folder: str, n: int, m: int) -> list:
    lines, images = f"{n} lines 48x320", f"{m} images 224x224"
    runs = [("rec", lines, "onnxruntime quantize_static", "MinMax", ["onnxruntime", "rec", "-", "-"]),
            *[("rec", lines, "qcompiler calibrate", method, ["qcompiler", "rec", method, "-"])
              for method in ("minmax", "percentile", "kl", "mse")],
            ("rec", f"{n} lines 48xW, W 160..480", "qcompiler calibrate", "minmax",
             ["qcompiler", "rec", "minmax", "varying"]),
            ("vgg19", images, "onnxruntime quantize_static", "MinMax", ["onnxruntime", "vgg19", "-", "-"]),
            ("vgg19", images, "qcompiler calibrate", "minmax", ["qcompiler", "vgg19", "minmax", "-"])]
    rows = []
    for model, data, tool, method, child in runs:
        r = run_child(folder, child)
        rows.append([model, data, tool, method, f"{r['wall']:.1f}", f"{r['cpu']:.1f}", f"{r['peak']:.2f}",
                     f"{r['pass_peak']:.2f}", f"{r['resident']:.2f}", r["chunks"] if r["chunks"] is not None else "-"])
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=64)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare[0], int(args.prepare[1]), int(args.prepare[2]))
        return
    if args.child:
        tool, folder, model, method, varying = args.child
        result = (onnxruntime_child(folder, model) if tool == "onnxruntime"
                  else qcompiler_child(folder, model, method, varying == "varying"))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="calibration_memory_") as folder:
        subprocess.run([sys.executable, __file__, "--prepare", folder, str(args.lines), str(args.images)], check=True)
        rows = measure(folder, args.lines, args.images)
    table = markdown_table(["model", "data", "tool", "method", "wall s", "CPU s", "process peak RSS GB",
                            "peak RSS during the call GB", "RSS at its start GB", "chunks"], rows, "lllrrrrrrr")
    body = (f"CPU: {cpu_description()}\n\nCommand: `python bench/calibration_memory.py --lines {args.lines} "
            f"--images {args.images}`\n\n{table}\n")
    print(body)
    if not args.no_write:
        write_section("Calibration memory and time (rec, VGG19)", body)


if __name__ == "__main__":
    main()
