"""The Numba dequantize kernel (backends/numba/kernels/requant.py) on a 64x64x32x32 u8 map,
per tensor, per channel (axis 1) and along the last axis, next to numpy's reference
(qcompiler.numerics.affine.dequantize) and, with --before REV, the kernel as it was at git
revision REV, in the same run; every result is checked bit for bit against the reference.
With --op quantize, the quantize kernel the same way: a float map of that shape into the
same u8 types, and into b1 (per tensor).

    python bench/dequantize_kernel.py [--op dequantize|quantize] [--before REV] [--repeats 30] [--write]

One Numba thread (the kernel is serial); the entries take turns (bench/_common.py
interleaved_samples), the table gives median wall and process CPU time.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_description, interleaved_samples, markdown_table, write_section  # noqa: E402

from qcompiler.backends.numba.kernels import requant  # noqa: E402
from qcompiler.ir.types import QuantType  # noqa: E402
from qcompiler.numerics.affine import dequantize, quantize  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KERNEL = "backends/numba/kernels/requant.py"
SHAPE = (64, 64, 32, 32)
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_vpopcntdq")
HEADINGS = {"dequantize": "Numba dequantize kernel: per-tensor run and per-channel loop order",
            "quantize": "Numba quantize kernel: per-tensor run and per-channel loop order"}


def kernel_at(revision: str, work: Path, name: str):
    """Kernel `name` from the kernel file at git `revision`, imported from a copy."""
    source = subprocess.run(["git", "show", f"{revision}:{KERNEL}"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    path = work / "requant_before.py"
    path.write_text(source.replace("from .rounding import", "from qcompiler.backends.numba.kernels.rounding import"))
    spec = importlib.util.spec_from_file_location("requant_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def cases(rng, op: str) -> dict:
    """name -> QuantType of the map."""
    def channel(axis):
        n = SHAPE[axis]
        return QuantType("u8", "f32", SHAPE, rng.uniform(0.01, 0.1, n).astype(np.float32),
                         rng.integers(100, 150, n).astype(np.int32), axis)
    layouts = {"per tensor": QuantType("u8", "f32", SHAPE, np.float32(0.0371), np.int32(131)),
               "per channel (axis 1)": channel(1), "per channel (last axis)": channel(3)}
    if op == "quantize":
        layouts["b1 per tensor"] = QuantType("b1", "f32", SHAPE, np.float32(0.5), np.int32(0))
    return layouts


def flat_params(t: QuantType) -> tuple:
    if t.axis is None:
        return t.scale.array.reshape(1), t.zero_point.array.reshape(1), 1
    return t.scale.array, t.zero_point.array, int(np.prod(SHAPE[t.axis + 1:]))


def timed_case(op: str, t: QuantType, kernels: dict, data: np.ndarray, repeats: int) -> tuple:
    """(samples per implementation, bit-exact per kernel) of one layout."""
    scale, zp, inner = flat_params(t)
    if op == "quantize":
        want = quantize(data, t).reshape(-1)
        outs = {k: np.empty(data.size, np.uint8 if t.storage == "u8" else np.int8) for k in kernels}
        runs = {"numpy reference": lambda: quantize(data, t)}
        runs.update({k: (lambda f=f, o=outs[k]: f(data.reshape(-1), scale, zp, inner, t.qmin, t.qmax,
                                                   t.storage == "b1", o)) for k, f in kernels.items()})
    else:
        want = dequantize(data, t).reshape(-1)
        outs = {k: np.empty(data.size, np.float32) for k in kernels}
        runs = {"numpy reference": lambda: dequantize(data, t)}
        runs.update({k: (lambda f=f, o=outs[k]: f(data.reshape(-1), scale, zp, inner, o)) for k, f in kernels.items()})
    samples = interleaved_samples(runs, repeats)
    same = ((lambda o: np.array_equal(o.astype(np.int32), want)) if op == "quantize"
            else (lambda o: np.array_equal(o.view(np.int32), want.view(np.int32))))
    return samples, {k: same(o) for k, o in outs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op", choices=("dequantize", "quantize"), default="dequantize")
    parser.add_argument("--before", default=None, help="git revision of the kernel to compare with")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="append/replace the section in bench/RESULTS.md")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    # quantize: a float map of about 3 sigmas over the u8 range (some saturation at both ends)
    data = (rng.integers(0, 256, SHAPE).astype(np.uint8) if args.op == "dequantize"
            else rng.normal(0, 2.5, SHAPE).astype(np.float32))
    rows = []
    with tempfile.TemporaryDirectory() as work:
        name = f"{args.op}_kernel"
        kernels = {"numba": getattr(requant, name)}
        if args.before:
            kernels[f"numba at {args.before}"] = kernel_at(args.before, Path(work), name)
        for layout, t in cases(rng, args.op).items():
            samples, exact = timed_case(args.op, t, kernels, data, args.repeats)
            wall = {k: statistics.median(w for w, _ in v) * 1e3 for k, v in samples.items()}
            cpu = {k: statistics.median(c for _, c in v) * 1e3 for k, v in samples.items()}
            rows += [[layout, k, f"{wall[k]:.2f}", f"{cpu[k]:.2f}", f"{wall['numpy reference'] / wall[k]:.1f}x",
                      "(reference)" if k == "numpy reference" else "yes" if exact[k] else "NO"] for k in samples]
    header = ["layout", "implementation", "wall ms", "CPU ms", "vs numpy (wall)", "bit-exact"]
    command = "python bench/dequantize_kernel.py " + " ".join(sys.argv[1:])
    body = (f"{markdown_table(header, rows, 'llrrrc')}\n\nCommand: `{command}` (median of {args.repeats}, taking "
            f"turns), {'u8' if args.op == 'dequantize' else 'f32'} map {'x'.join(map(str, SHAPE))}.\n\nCPU: {cpu_description(FLAGS)}")
    print(body)
    if args.write:
        write_section(HEADINGS[args.op], body)


if __name__ == "__main__":
    main()
