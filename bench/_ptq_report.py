"""Rows of the PTQ benchmark and how they are judged and printed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from _common import markdown_table

SPEED_GOAL = 1.8  # exported int8 ONNX vs fp32 ONNX, both in ORT at one thread
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
    """`ms[name, setting]`: median ms with setting "ort1" (ORT, one intra-op thread),
    "ortN" (ORT default threads) or "own" (torch / Numba, one thread)."""
    fp32 = _fp32_ort(rows).name
    body = []
    for r in rows:
        one, many = ms.get((r.name, "ort1")), ms.get((r.name, "ortN"))
        body.append([r.name, _cell(r.accuracy, "{:.1f}"), _cell(r.nbytes, "{:,}"),
                     _cell(one, "{:.2f}"), _cell(ms[fp32, "ort1"] / one if one else None, "{:.2f}×"),
                     _cell(many, "{:.2f}"), _cell(ms[fp32, "ortN"] / many if many else None, "{:.2f}×"),
                     _cell(ms.get((r.name, "own")), "{:.2f}")])
    header = ["model — runtime", "test acc. %", "bytes", "ORT ms (1 thread)", "speed-up vs fp32 ORT (1 thread)",
              "ORT ms (default threads)", "speed-up vs fp32 ORT (default)", "torch / Numba ms (1 thread)"]
    return markdown_table(header, body, "lrrrrrrr")


def goals(rows: list, ms: dict) -> list:
    """One line per row of ours: accuracy ≥ the best peer int8 row and ≥ fp32 − 0.1 pt;
    for the exported ONNX also ≥ 1.8× the fp32 ONNX at one ORT thread."""
    fp32 = next(r.accuracy for r in rows if r.kind == "fp32")
    fp32_ms = ms[_fp32_ort(rows).name, "ort1"]
    best_peer = max(r.accuracy for r in rows if r.kind == "peer")
    floor = max(best_peer, fp32 - ACCURACY_SLACK)
    lines = []
    for r in (r for r in rows if r.kind == "ours"):
        verdict = "met" if r.accuracy >= floor - 1e-9 else f"MISSED by {floor - r.accuracy:.1f} pt"
        line = (f"- {r.name}: accuracy {r.accuracy:.1f}% vs needed ≥ {floor:.1f}% (best peer {best_peer:.1f}%, "
                f"fp32 {fp32:.1f}%): {verdict}")
        if r.onnx:
            speed = fp32_ms / ms[r.name, "ort1"]
            line += (f"; speed-up {speed:.2f}× vs needed {SPEED_GOAL}×: "
                     + ("met" if speed >= SPEED_GOAL else f"MISSED by {SPEED_GOAL - speed:.2f}×"))
        lines.append(line)
    return lines


def kernel_breakdown(profiles: dict, top: int = 5) -> str:
    """`profiles[row name]`: ORT kernel ms by op type (see _ort_ptq.kernel_ms_by_op)."""
    body = [[name, f"{sum(ops.values()):.2f}", ", ".join(f"{op} {ms:.2f}" for op, ms in list(ops.items())[:top])]
            for name, ops in profiles.items()]
    return markdown_table(["model (ORT, 1 thread)", "kernel ms / run", f"largest op types, ms (top {top})"], body, "lrl")
