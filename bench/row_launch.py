"""What the serial-below-a-size rule of the Numba row kernels (ops/serial_or_parallel.py: float
and I-BERT softmax / GELU / layer norm, the generic integer product, the embedding gather)
saves end to end on a seeded tiny BERT (qcompiler.testing.transformer_models, x86-vnni, the
default pipeline and the I-BERT integer-kernel one), at 1 and 2 Numba threads.

    python bench/row_launch.py [--repeats 40] [--batch 8] [--seq 16]

"always parallel" forces every such kernel onto its chunked parallel twin (what each call
launched before the rule: one workqueue parallel region); "rule" is the shipped decision.
Both run in the same process, interleaved; times are medians of process CPU and wall ms.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numba  # noqa: E402
import numpy as np  # noqa: E402

import qcompiler  # noqa: E402
from qcompiler.backends.numba.ops import serial_or_parallel  # noqa: E402
from qcompiler.testing import transformer_models as tm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, interleaved_samples, markdown_table  # noqa: E402

INTEGER = ("fold-constants,canonicalize,fold-bn,fuse-activations,dce,"
           "transformer-recipe{integer=[softmax, gelu, layer_norm]},calibrate{method=mse},quantize,lower")
RULE = serial_or_parallel.parallel_chunks


def forced(threads: int):
    return lambda work_macs: 4 * threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=16)
    args = parser.parse_args()
    model = tm.bert(seed=0)
    example = tm.padded_tokens(args.batch, args.seq, seed=1)
    ids, mask = (a.numpy() for a in example)
    rows = []
    for name, pipeline in (("default", None), ("I-BERT integer", INTEGER)):
        extra = {} if pipeline is None else {"pipeline": pipeline}
        cm = qcompiler.compile(model, target="x86-vnni", calibration=[(ids, mask)], example_inputs=example,
                              progress=False, **extra)
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results = {}

            def run(decide):
                def call():
                    serial_or_parallel.parallel_chunks = decide
                    return cm(ids, mask)
                return call

            runs = {"always parallel": run(forced(threads)), "rule": run(RULE)}
            samples = interleaved_samples(runs, args.repeats, 3)
            serial_or_parallel.parallel_chunks = RULE
            for key, values in samples.items():
                results[key] = [statistics.median(v[i] for v in values) * 1e3 for i in (0, 1)]
            same = np.array_equal(np.asarray(run(forced(threads))()), np.asarray(run(RULE)()))
            serial_or_parallel.parallel_chunks = RULE
            (pw, pc), (rw, rc) = results["always parallel"], results["rule"]
            rows.append([f"tiny BERT {args.batch}x{args.seq}, {name}", threads, f"{pc:.2f} / {pw:.2f}",
                         f"{rc:.2f} / {rw:.2f}", f"{pc / rc:.2f}x", "yes" if same else "NO"])
    print(markdown_table(["model", "threads", "always parallel CPU / wall ms", "rule CPU / wall ms",
                          "CPU ratio", "same output"], rows))
    print(f"\nCPU: {cpu_description(('avx2', 'avx512_vnni', 'avx512_vpopcntdq'))}")


if __name__ == "__main__":
    main()
