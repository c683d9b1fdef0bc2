"""The Numba dequantize kernel (backends/numba/kernels/requant.py) on a 64x64x32x32 u8 map,
per tensor, per channel (axis 1) and along the last axis, next to numpy's reference
(qcompiler.numerics.affine.dequantize) and, with --before REV, the kernel as it was at git
revision REV, in the same run; every result is checked bit for bit against the reference.

    python bench/dequantize_kernel.py [--before REV] [--repeats 30] [--write]

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

from qcompiler.backends.numba.kernels.requant import dequantize_kernel  # noqa: E402
from qcompiler.ir.types import QuantType  # noqa: E402
from qcompiler.numerics.affine import dequantize  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KERNEL = "backends/numba/kernels/requant.py"
SHAPE = (64, 64, 32, 32)
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_vpopcntdq")


def kernel_at(revision: str, work: Path):
    """dequantize_kernel from the kernel file at git `revision`, imported from a copy."""
    source = subprocess.run(["git", "show", f"{revision}:{KERNEL}"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    path = work / "requant_before.py"
    path.write_text(source.replace("from .rounding import", "from qcompiler.backends.numba.kernels.rounding import"))
    spec = importlib.util.spec_from_file_location("requant_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dequantize_kernel


def cases(rng) -> dict:
    """name -> QuantType of the map."""
    def channel(axis):
        n = SHAPE[axis]
        return QuantType("u8", "f32", SHAPE, rng.uniform(0.01, 0.1, n).astype(np.float32),
                         rng.integers(100, 150, n).astype(np.int32), axis)
    return {"per tensor": QuantType("u8", "f32", SHAPE, np.float32(0.0371), np.int32(131)),
            "per channel (axis 1)": channel(1), "per channel (last axis)": channel(3)}


def flat_params(t: QuantType) -> tuple:
    if t.axis is None:
        return t.scale.array.reshape(1), t.zero_point.array.reshape(1), 1
    return t.scale.array, t.zero_point.array, int(np.prod(SHAPE[t.axis + 1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=None, help="git revision of the kernel to compare with")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="append/replace the section in bench/RESULTS.md")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    q = rng.integers(0, 256, SHAPE).astype(np.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        kernels = {"numba": dequantize_kernel}
        if args.before:
            kernels[f"numba at {args.before}"] = kernel_at(args.before, Path(work))
        for name, t in cases(rng).items():
            scale, zp, inner = flat_params(t)
            want = dequantize(q, t)
            outs = {k: np.empty(q.size, np.float32) for k in kernels}
            runs = {"numpy reference": lambda: dequantize(q, t)}
            runs.update({k: (lambda f=f, o=outs[k]: f(q.reshape(-1), scale, zp, inner, o)) for k, f in kernels.items()})
            samples = interleaved_samples(runs, args.repeats)
            exact = {k: np.array_equal(o.view(np.int32), want.reshape(-1).view(np.int32)) for k, o in outs.items()}
            wall = {k: statistics.median(w for w, _ in v) * 1e3 for k, v in samples.items()}
            cpu = {k: statistics.median(c for _, c in v) * 1e3 for k, v in samples.items()}
            rows += [[name, k, f"{wall[k]:.2f}", f"{cpu[k]:.2f}", f"{wall['numpy reference'] / wall[k]:.1f}x",
                      "(reference)" if k == "numpy reference" else "yes" if exact[k] else "NO"] for k in runs]
    header = ["layout", "implementation", "wall ms", "CPU ms", "vs numpy (wall)", "bit-exact"]
    command = "python bench/dequantize_kernel.py " + " ".join(sys.argv[1:])
    body = (f"{markdown_table(header, rows, 'llrrrc')}\n\nCommand: `{command}` (median of {args.repeats}, taking "
            f"turns), u8 map {'x'.join(map(str, SHAPE))}.\n\nCPU: {cpu_description(FLAGS)}")
    print(body)
    if args.write:
        write_section("Numba dequantize kernel: per-tensor run and per-channel loop order", body)


if __name__ == "__main__":
    main()
