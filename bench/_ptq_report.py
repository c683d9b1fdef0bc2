"""Rows of the PTQ benchmark and how they are judged and printed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from _common import markdown_table

SPEED_GOAL = 2.0  # exported int8 ONNX vs fp32 ONNX in ORT, and at least the fastest peer (issue 14 item 1)
ACCURACY_SLACK = 0.1  # points below fp32 that our int8 may lose


@dataclass
class Row:
    name: str
    kind: str  # "fp32", "peer" or "ours"
    predict: Callable  # numpy (N,1,28,28) -> logits
    nbytes: Optional[int] = None
    onnx: Optional[Path] = None  # timed in ONNX Runtime when set
    own_runtime: Optional[Callable] = None  # torch or Numba, timed at one thread
    accuracy: Optional[float] = None


def _fp32_ort(rows: list) -> Row:
    return next(r for r in rows if r.kind == "fp32" and r.onnx)


def _cell(value, fmt: str) -> str:
    return fmt.format(value) if value is not None else "—"


def table(rows: list, ms: dict) -> str:
    """`ms[name, setting]`: median ms with setting "ort1" (ORT, one intra-op thread; its
    process CPU time "ort1cpu"), "ort2" / "ort2cpu" (two threads, no spinning), "ortN" (ORT
    default threads) or "own" (torch / Numba, one thread)."""
    fp32 = _fp32_ort(rows).name
    body = []
    for r in rows:
        row = [r.name, _cell(r.accuracy, "{:.1f}"), _cell(r.nbytes, "{:,}")]
        for setting in ("ort1cpu", "ort1", "ort2cpu", "ort2", "ortN"):
            mine = ms.get((r.name, setting))
            row += [_cell(mine, "{:.2f}"), _cell(ms[fp32, setting] / mine if mine else None, "{:.2f}×")]
        own = ms.get((r.name, "own"))
        body.append(row + [f"{own:.2f} / {ms[r.name, 'owncpu']:.2f}" if own else "—"])
    header = ["model — runtime", "test acc. %", "bytes", "ORT CPU ms (1 thread)", "speed-up vs fp32 (CPU, 1 thread)",
              "ORT ms (1 thread)", "speed-up vs fp32 ORT (1 thread)", "ORT CPU ms (2 threads, no spin)",
              "speed-up vs fp32 (CPU, 2 threads)", "ORT ms (2 threads, no spin)", "speed-up vs fp32 (2 threads)",
              "ORT ms (default threads)",
              "speed-up vs fp32 ORT (default)", "torch / Numba ms (1 thread), wall / CPU"]
    return markdown_table(header, body, "lrrrrrrrrrrrrr")


def _fastest_peer(rows: list, ms: dict, setting: str) -> tuple:
    """(ms, name) of the fastest peer int8 row at `setting`: at one thread ("ort1",
    "ort1cpu") torch rows count with their own one-thread runtime, at two and default
    threads ("ort2", "ort2cpu", "ortN") only ORT rows are timed."""
    own = {"ort1": "own", "ort1cpu": "owncpu"}.get(setting)

    def peer_ms(r):
        return ms.get((r.name, setting)) or (ms.get((r.name, own)) if own else None)
    return min((peer_ms(r), r.name) for r in rows if r.kind == "peer" and peer_ms(r))


def goals(rows: list, ms: dict) -> list:
    """One line per row of ours: accuracy ≥ the best peer int8 row and ≥ fp32 − 0.1 pt;
    for the exported ONNX, per ORT thread setting, ≥ SPEED_GOAL× the fp32 ONNX and no
    slower than the fastest peer."""
    fp32 = next(r.accuracy for r in rows if r.kind == "fp32")
    best_peer = max(r.accuracy for r in rows if r.kind == "peer")
    floor = max(best_peer, fp32 - ACCURACY_SLACK)
    lines = []
    for r in (r for r in rows if r.kind == "ours"):
        verdict = "met" if r.accuracy >= floor - 1e-9 else f"MISSED by {floor - r.accuracy:.1f} pt"
        line = (f"- {r.name}: accuracy {r.accuracy:.1f}% vs needed ≥ {floor:.1f}% (best peer {best_peer:.1f}%, "
                f"fp32 {fp32:.1f}%): {verdict}")
        settings = (("ort1cpu", "1 thread CPU time"), ("ort1", "1 thread"), ("ort2cpu", "2 threads CPU time"),
                    ("ort2", "2 threads"), ("ortN", "default threads"))
        for setting, shown in settings if r.onnx else ():
            mine = ms[r.name, setting]
            speed = ms[_fp32_ort(rows).name, setting] / mine
            peer_ms, peer = _fastest_peer(rows, ms, setting)
            met = speed >= SPEED_GOAL and mine <= peer_ms
            line += (f"; {shown}: {speed:.2f}× fp32 (needed {SPEED_GOAL}×), {peer_ms / mine:.2f}× the fastest peer "
                     f"({peer}, {peer_ms:.2f} ms): " + ("met" if met else "MISSED"))
        lines.append(line)
    return lines


def kernel_breakdown(profiles: dict, top: int = 7) -> str:
    """`profiles[row name]`: {op type: (ORT kernel ms, nodes)} (see _ort_ptq.kernel_ms_by_op)."""
    body = [[name, f"{sum(ms for ms, _ in ops.values()):.2f}",
             ", ".join(f"{op} ×{count} {ms:.2f}" for op, (ms, count) in list(ops.items())[:top])]
            for name, ops in profiles.items()]
    return markdown_table(["model (ORT, 1 thread)", "kernel ms / run", f"largest op types: ×nodes ms (top {top})"],
                          body, "lrl")


def kernel_scaling(one: dict, two: dict, top: int = 6) -> str:
    """Per profiled row, ORT's kernel time at one and at two threads (profiles as in
    kernel_breakdown) and, for its largest op types, how much faster two threads ran them:
    which ops keep the model from scaling."""
    body = []
    for name, ops in one.items():
        total_one, total_two = (sum(ms for ms, _ in p.values()) for p in (ops, two[name]))
        at_two = {op: ms for op, (ms, _) in two[name].items()}
        cells = [f"{op} {ms:.2f} → {at_two.get(op, 0.0):.2f} ({ms / max(at_two.get(op, 0.0), 1e-6):.2f}×)"
                 for op, (ms, _) in list(ops.items())[:top]]
        body.append([name, f"{total_one:.2f}", f"{total_two:.2f}", f"{total_one / total_two:.2f}×", ", ".join(cells)])
    return markdown_table(["model", "kernel ms, 1 thread", "2 threads (no spin)", "speed-up",
                           f"largest op types at 1 thread: ms 1 → 2 threads (speed-up), top {top}"], body, "lrrrl")
