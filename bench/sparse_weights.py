"""Pruned weights stored in zero-run code and run by the Numba backend over their nonzero taps.

    python bench/sparse_weights.py [--repeats 10] [--no-write]

Models: the digits CNN (trained, batch 256 of the test split) and rapidocr's PP-OCR
classifier (ch_ppocr_mobile_v2.0_cls, batch 8 of 3×48×192 uniform inputs, 8 calibration
samples), each pruned by `prune` (element-wise at 50-95% per layer, or 50% of the output
channels) and taken through calibrate, quantize{weights=i8} and lower on x86-vnni. The
same lowered graph is then run as is (dense: int8 kernels), after `zero-run-encode`
(coded: weights stored as zero-run code, decoded at load; convolutions at most
SPARSE_MAX_DENSITY nonzero on `kernels/conv_sparse.py`, convolutions with all-zero output
channels on their live channels only, `ops/zero_channels.py`), and coded with every coded
convolution forced onto the sparse-tap kernel. Columns: conv/linear weight bytes at
storage width and as stored (code); the saved model.npz of both; Numba times (median
process CPU time of interleaved runs, 1 thread: the shared machine preempts wall time);
the conv multiply-adds each coded run skips per batch (counted from the tap lists and
dead channels); whether every quantized value of every run equals the reference. The last
tables time one 64→64 3×3 convolution at 56×56 on random i8 weights: the int8 kernel
the dense graph runs vs the sparse-tap kernel by sparsity, and vs the live-channel step
by the fraction of output channels at zero.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # see bench/numba_kernels.py

import numba  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_description, interleaved_samples, markdown_table, write_section  # noqa: E402
from lowbit_kernels import node_and_inputs  # noqa: E402

import qcompiler  # noqa: E402
from qcompiler.backends.numba import NumbaExecutor  # noqa: E402
from qcompiler.backends.numba.ops import INTEGER_STEPS  # noqa: E402
from qcompiler.backends.numba.ops import zero_runs as zero_runs_ops  # noqa: E402
from qcompiler.backends.numba.ops.zero_channels import dead_channels  # noqa: E402
from qcompiler.backends.numba.ops.zero_runs import SPARSE_MAX_DENSITY, sparse_conv_plan  # noqa: E402
from qcompiler.ir.clone import clone  # noqa: E402
from qcompiler.ir.dense import Dense  # noqa: E402
from qcompiler.ir.serialize import save_qir  # noqa: E402
from qcompiler.ir.types import QuantType  # noqa: E402
from qcompiler.passes.compression.zero_runs import ZeroRunEncode  # noqa: E402
from qcompiler.passmanager import PassContext  # noqa: E402
from qcompiler.runtime.reference import bind_inputs, run_node  # noqa: E402

HEADING = "Zero-run stored pruned weights on the Numba backend (issue 14 item 3, issue 13)"
PRUNINGS = ((0.5, "element"), (0.8, "element"), (0.9, "element"), (0.95, "element"), (0.5, "channel"))
PIPELINE = ("fold-constants,canonicalize,fold-bn,fuse-activations,dce,prune{{sparsity={},granularity={}}},"
            "calibrate{{method=minmax}},quantize{{weights=i8}},lower")


def digits():
    from qcompiler.testing.zoo import digits_data, train_digits_cnn

    x_train, _, x_test, y_test = digits_data()
    return "digits CNN", train_digits_cnn(), x_train[:256].numpy(), x_test[:256].numpy(), y_test[:256].numpy()


def classifier():
    import onnx
    import rapidocr_onnxruntime

    path = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, size in zip(dims[1:], (3, 48, 192)):
        dim.dim_value = size
    dims[0].dim_param = "N"
    rng = np.random.default_rng(0)
    calibration = rng.uniform(-1, 1, (8, 3, 48, 192)).astype(np.float32)
    return "PP-OCR cls", model, calibration, rng.uniform(-1, 1, (8, 3, 48, 192)).astype(np.float32), None


def npz_bytes(graph) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        save_qir(graph, Path(tmp) / "model.qir")
        return (Path(tmp) / "model.npz").stat().st_size


def conv_work(graph, values) -> tuple:
    """For the batch that gave `values`: (convolutions the coded run skips work in, convolutions
    with coded weights, multiply-adds the coded run skips (sparse taps, or dead output
    channels), multiply-adds the sparse kernel skips on every coded convolution, all their
    multiply-adds)."""
    skipping = coded = skipped = all_taps = total = 0
    for node in graph.nodes:
        plan = sparse_conv_plan(node) if node.op in ("qconv1d", "qconv2d") else None
        if plan is None:
            continue
        out = values[node.outputs[0].name]
        positions = int(np.prod(out.shape[2:])) * out.shape[0]
        dead = dead_channels(node).size if node.attrs.get("groups", 1) == 1 else 0
        if plan.nonzero <= SPARSE_MAX_DENSITY * plan.dense_taps:
            saved = plan.skipped_taps
        else:
            saved = dead * plan.dense_taps // out.shape[1]
        coded, skipping, skipped = coded + 1, skipping + (saved > 0), skipped + saved * positions
        all_taps += plan.skipped_taps * positions
        total += plan.dense_taps * positions
    return skipping, coded, skipped, all_taps, total


@contextmanager
def sparse_kernel_everywhere():
    """Executors built inside run every coded convolution on the sparse kernel."""
    zero_runs_ops.SPARSE_MAX_DENSITY = 1.0
    try:
        yield
    finally:
        zero_runs_ops.SPARSE_MAX_DENSITY = SPARSE_MAX_DENSITY


def model_rows(make, repeats):
    name, model, calibration, x, labels = make()
    rows = []
    for sparsity, granularity in PRUNINGS:
        cm = qcompiler.compile(model, "x86-vnni", example_inputs=calibration[:1], calibration=calibration,
                               pipeline=PIPELINE.format(sparsity, granularity), progress=False)
        dense, coded = cm.graph, clone(cm.graph)
        stats = ZeroRunEncode().run(coded, PassContext()).stats
        executors = {"dense": NumbaExecutor(dense), "coded": NumbaExecutor(coded)}
        with sparse_kernel_everywhere():
            executors["sparse everywhere"] = NumbaExecutor(coded)
        want = executors["dense"].run_storage([x])
        reference = reference_storage(coded, [x])
        integers = [v.name for v in coded.values() if isinstance(v.type, QuantType) and v.name in want]
        exact = all(np.array_equal(ex.run_storage([x])[k], reference[k]) and np.array_equal(reference[k], want[k])
                    for ex in executors.values() for k in integers)
        skipping, n_coded, skipped, all_taps, total = conv_work(coded, want)
        samples = interleaved_samples({k: (lambda ex=ex: ex([x])) for k, ex in executors.items()}, repeats)
        ms = {k: sorted(c for _, c in t)[len(t) // 2] * 1e3 for k, t in samples.items()}  # CPU: 1 thread
        accuracy = "-" if labels is None else f"{np.mean(executors['dense']([x])[0].argmax(1) == labels):.3f}"
        rows.append([name, f"{sparsity:.0%} {granularity}", f"{len(stats['layers'])}", f"{stats['dense_bytes']:,}",
                     f"{stats['stored_bytes']:,}", f"{npz_bytes(dense):,}", f"{npz_bytes(coded):,}",
                     f"{ms['dense']:.2f}", f"{skipping} of {n_coded}", f"{skipped / total:.0%}", f"{ms['coded']:.2f}",
                     f"{all_taps / total:.0%}", f"{ms['sparse everywhere']:.2f}", f"{total / 1e6:.1f} M", accuracy,
                     "yes" if exact else "NO"])
    return rows


def reference_storage(graph, inputs) -> dict:
    """Every value's storage integers from the reference interpreter."""
    env = bind_inputs(graph, inputs)
    for node in graph.nodes:
        for v, a in zip(node.outputs, run_node(node, [env[id(u)] if u is not None else None for u in node.inputs])):
            env[id(v)] = np.asarray(a)
    return {v.name: env[id(v)] for v in graph.values() if id(v) in env}


def kernel_rows(repeats):
    """One 64→64 3×3 convolution at 56×56, u8 activations: the dense graph's int8 step vs
    the sparse step on the same random i8 weights with a fraction of them zeroed."""
    rng = np.random.default_rng(0)
    rows = []
    for sparsity in (0.5, 0.7, 0.8, 0.9, 0.95):
        node, (x, w, bias) = node_and_inputs("qconv2d", "u8", "i8", (1, 64, 56, 56), (64, 64, 3, 3),
                                             (1, 64, 56, 56), {"pad": [1, 1, 1, 1]})
        w = np.where(rng.random(w.shape) < sparsity, 0, w).astype(np.int32)
        node.inputs[1].producer.attrs["value"] = Dense(w)
        dense_step = INTEGER_STEPS["qconv2d"](node)
        ZeroRunEncode().run(node.graph, PassContext())
        with sparse_kernel_everywhere():  # at every density, to find where it pays
            sparse_step, plan = INTEGER_STEPS["qconv2d"](node), sparse_conv_plan(node)
        args = [x, w, bias]
        assert np.array_equal(dense_step(args)[0], sparse_step(args)[0])
        samples = interleaved_samples({"dense": lambda: dense_step(args), "sparse": lambda: sparse_step(args)},
                                      repeats)
        ms = {k: sorted(c for _, c in t)[len(t) // 2] * 1e3 for k, t in samples.items()}  # CPU: 1 thread
        rows.append([f"{sparsity:.0%}", f"{plan.skipped_taps / plan.dense_taps:.1%}", f"{ms['dense']:.2f}",
                     f"{ms['sparse']:.2f}", f"{ms['dense'] / ms['sparse']:.2f}"])
    return rows


def channel_rows(repeats):
    """The same convolution with a fraction of its output channels all zero: the int8 step
    on every channel vs the coded step on the live ones."""
    rng = np.random.default_rng(1)
    rows = []
    for fraction in (0.25, 0.5, 0.75):
        node, (x, w, bias) = node_and_inputs("qconv2d", "u8", "i8", (1, 64, 56, 56), (64, 64, 3, 3),
                                             (1, 64, 56, 56), {"pad": [1, 1, 1, 1]})
        w = w.copy()
        w[rng.permutation(64)[:int(64 * fraction)]] = 0
        node.inputs[1].producer.attrs["value"] = Dense(w)
        dense_step = INTEGER_STEPS["qconv2d"](node)
        ZeroRunEncode().run(node.graph, PassContext())
        live_step = INTEGER_STEPS["qconv2d"](node)
        args = [x, w, bias]
        assert np.array_equal(dense_step(args)[0], live_step(args)[0])
        samples = interleaved_samples({"dense": lambda: dense_step(args), "live": lambda: live_step(args)}, repeats)
        ms = {k: sorted(c for _, c in t)[len(t) // 2] * 1e3 for k, t in samples.items()}
        rows.append([f"{fraction:.0%}", f"{ms['dense']:.2f}", f"{ms['live']:.2f}", f"{ms['dense'] / ms['live']:.2f}"])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    numba.set_num_threads(1)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    models = markdown_table(["model", "prune", "coded layers", "weight bytes (storage width)", "stored code bytes",
                             "model.npz dense", "model.npz coded", "dense CPU ms", "coded convs skipping work",
                             "conv MACs they skip", "coded CPU ms", "MACs skipped, all coded convs sparse-tap",
                             "that run's CPU ms", "conv MACs / batch", "top-1", "integers: all runs == reference"],
                            model_rows(digits, args.repeats) + model_rows(classifier, args.repeats),
                            "llrrrrrrrrrrrrrl")
    kernels = markdown_table(["sparsity", "taps skipped", "int8 step CPU ms", "sparse step CPU ms", "speed-up"],
                             kernel_rows(args.repeats), "rrrrr")
    channels = markdown_table(["output channels all zero", "int8 step CPU ms", "live-channel step CPU ms", "speed-up"],
                              channel_rows(args.repeats), "rrrr")
    body = (f"Command (from the repository root): `python bench/sparse_weights.py --repeats {args.repeats}`; "
            f"load average at start {load} on the shared 2-core machine, so times are the median process CPU "
            f"time of interleaved runs (wall times are inflated by preemption). "
            f"CPU: {cpu_description(('avx2', 'avx512_vnni', 'avx512bw'))}; 1 Numba thread.\n\n"
            f"Whole models (x86-vnni, i8 weights per channel; the dense .npz holds the weights as int32 "
            f"containers, the coded one their packed code; linear layers decode at load and run dense):\n\n"
            f"{models}\n\nOne convolution, 1×64×56×56, 3×3, 64→64, pad 1, u8 × i8, element-wise zeros:\n\n"
            f"{kernels}\n\nThe same convolution with whole output channels zero:\n\n{channels}\n")
    print(body)
    if not args.no_write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
