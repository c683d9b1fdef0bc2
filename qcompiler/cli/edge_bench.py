"""`edge_table(graph, targets, ...)`: the model compiled for each target, one row each —
weight size, BOPs, the latency the target's cost model predicts, the latency measured
where this machine runs the target's code as the target would (onnxruntime on the
exported model and the Numba backend, on a host with the target's `[host] cpu_flags`),
and the accuracy on labelled data. Other targets' latency is predicted only.

Latencies are per sample: the measured ones are the median of `repeats` runs of one batch
divided by its size (on `threads` threads; with one, the process CPU time of a run, since
on a shared machine a run's wall time includes waiting for a core); the predicted ones
are the report's sum over layers of the cost model's roofline (per sample for a dynamic
batch, per batch for a fixed one, then divided by it).
Accuracy is the Numba backend's (it computes each target's integer arithmetic exactly,
whatever the host), so every row has one when labels are given.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..ir.core import Graph
from ..ir.errors import QIRError
from ..targets import Target, get_target


class EdgeBenchError(QIRError):
    """The table cannot be made: data that does not fit the model, labels that are not classes."""


@dataclass(frozen=True)
class EdgeRow:
    target: str
    size_bytes: int
    bops: float               # per sample
    predicted_us: float       # per sample, from the target's cost model
    latency: str              # "measured", or "predicted" and why nothing was measured
    onnxruntime_us: Optional[float]
    numba_us: Optional[float]
    accuracy: Optional[float]


def host_cpu_flags() -> set:
    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    return set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


def runner_missing(target: Target, flags: set) -> Optional[str]:
    """Why latency on `target` cannot be measured on a host with `flags` (None: it can).
    A flag written `!flag` must be absent: onnxruntime and LLVM pick kernels by the host's
    ISA, so a VNNI host would time an AVX2 target's model on VNNI instructions."""
    if not target.host_cpu_flags:
        return "no runner on this machine"
    missing = [f for f in target.host_cpu_flags if not f.startswith("!") and f not in flags]
    extra = [f[1:] for f in target.host_cpu_flags if f.startswith("!") and f[1:] in flags]
    if missing:
        return f"host lacks {', '.join(missing)}"
    return f"host has {', '.join(extra)}, which its kernels would use" if extra else None


def edge_table(graph: Graph, targets: list, calibration, inputs: np.ndarray, labels: Optional[np.ndarray] = None,
               *, batch: int = 64, repeats: int = 10, threads: int = 1, onnx_form: str = "qdq",
               seed: int = 0, progress: bool = False) -> list:
    """One EdgeRow per target name, in order; unknown names fail before anything compiles."""
    chosen = [get_target(t) for t in targets]
    if len(graph.inputs) != 1:
        raise EdgeBenchError(f"the table feeds one input array; @{graph.name} takes {len(graph.inputs)} inputs")
    if labels is not None and (len(labels) != len(inputs) or not np.issubdtype(np.asarray(labels).dtype, np.integer)):
        raise EdgeBenchError(f"labels: expected {len(inputs)} integer class indices, got {len(labels)} of dtype "
                             f"{np.asarray(labels).dtype}")
    flags = host_cpu_flags()
    return [_row(graph, t, calibration, inputs, labels, batch, repeats, threads, onnx_form, seed, progress,
                 runner_missing(t, flags)) for t in chosen]


def _row(graph, target, calibration, inputs, labels, batch, repeats, threads, onnx_form, seed, progress,
         missing) -> EdgeRow:
    from ..api import compile

    cm = compile(graph, target=target.name, calibration=calibration, seed=seed, progress=progress)
    static = graph.inputs[0].type.shape[0] if graph.inputs[0].type.shape else None
    static = static if isinstance(static, int) else None
    cm.sample_inputs = None  # the report's SQNR columns are not in this table: skip running both graphs
    totals = cm.report().totals
    accuracy = None
    if labels is not None:
        logits = np.asarray(cm(inputs))
        if logits.ndim != 2:
            raise EdgeBenchError(f"accuracy takes logits [N, classes]; the first output has shape {list(logits.shape)}")
        accuracy = float(np.mean(logits.argmax(1) == labels))
    ort_us = numba_us = None
    if missing is None:
        x = inputs[:static or batch]
        numba_us = _numba_seconds(cm, x, repeats, threads) / len(x) * 1e6
        ort_us = onnxruntime_seconds(cm, x, repeats, threads, onnx_form) / len(x) * 1e6
    per = static or 1
    return EdgeRow(target.name, int(totals["bytes"]), totals["bops"] / per, totals["latency_ns"] / per / 1e3,
                   "measured" if missing is None else f"predicted ({missing})", ort_us, numba_us, accuracy)


def median_seconds(run, repeats: int, threads: int) -> float:
    clock = time.process_time if threads == 1 else time.perf_counter
    run()  # compiles Numba kernels, warms caches
    times = []
    for _ in range(repeats):
        start = clock()
        run()
        times.append(clock() - start)
    return statistics.median(times)


def _numba_seconds(cm, x: np.ndarray, repeats: int, threads: int) -> float:
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        return median_seconds(lambda: cm(x), repeats, threads)
    finally:
        numba.set_num_threads(before)


def onnxruntime_seconds(cm, x: np.ndarray, repeats: int, threads: int, form: str) -> float:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = cm.export_onnx(Path(tmp) / "model.onnx", form=form)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    return median_seconds(lambda: session.run(None, feed), repeats, threads)


HEADER = ["target", "size (B)", "BOPs/sample", "predicted µs/sample", "latency", "onnxruntime µs/sample",
          "Numba µs/sample", "accuracy"]
TEXT_COLUMNS = (0, 4)  # target and latency: left-aligned, the numbers right


def row_cells(row: EdgeRow) -> list:
    def us(v):
        return "-" if v is None else f"{v:.1f}"

    return [row.target, f"{row.size_bytes:,}", f"{row.bops:.3g}", f"{row.predicted_us:.2f}", row.latency,
            us(row.onnxruntime_us), us(row.numba_us), "-" if row.accuracy is None else f"{100 * row.accuracy:.1f}%"]


def to_markdown(rows: list, title: str) -> str:
    align = ["---" if i in TEXT_COLUMNS else "---:" for i in range(len(HEADER))]
    lines = [f"# {title}", "", "| " + " | ".join(HEADER) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row_cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_text(rows: list) -> str:
    cells = [HEADER] + [row_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) if i in TEXT_COLUMNS else c.rjust(w)
                                for i, (c, w) in enumerate(zip(line, widths))) for line in cells)


def to_json(rows: list) -> list:
    return [asdict(r) for r in rows]
