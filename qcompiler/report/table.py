"""Text and Markdown renderings of a Report (the numbers stay raw in `Report.rows`)."""
from __future__ import annotations

import math

COLUMNS = ["layer", "op", "shape", "weights", "acts", "bits", "alloc", "sens", "method", "SQNR dB", "≠sim", "params",
           "bytes", "MACs", "BOPs", "lat %"]
RIGHT_ALIGNED = {"sens", "SQNR dB", "≠sim", "params", "bytes", "MACs", "BOPs", "lat %"}


def render_text(report) -> str:
    cells = [row_cells(r) for r in report.rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(COLUMNS)]

    def line(values):
        return "  ".join(v.rjust(w) if h in RIGHT_ALIGNED else v.ljust(w)
                         for v, w, h in zip(values, widths, COLUMNS)).rstrip()

    rule = "-" * len(line(COLUMNS))
    out = [_title(report), rule, line(COLUMNS), rule] + [line(c) for c in cells] + [rule]
    return "\n".join(out + footer_lines(report))


def render_markdown(report) -> str:
    out = [f"**{_title(report)}**", "", "| " + " | ".join(COLUMNS) + " |",
           "|" + "|".join("---:" if h in RIGHT_ALIGNED else "---" for h in COLUMNS) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row_cells(r)) + " |" for r in report.rows]
    return "\n".join(out + [""] + [f"- {line.strip()}" for line in footer_lines(report) if line.strip()])


def _title(report) -> str:
    return f"qcompiler report: @{report.graph} for {report.target} ({report.pipeline})"


def row_cells(r: dict) -> list:
    layer = r["layer"] + (f" ({r['origin']})" if r["origin"] and r["origin"] != r["layer"] else "")
    weight_bits = f"{r['w_codebook']}({r['w_bits_per_weight']:.2g}b)" if r.get("w_codebook") else (
        f"w{r['w_bits']}" if r["w_bits"] else "")
    bits = weight_bits + (f"a{r['a_bits']}" if r["a_bits"] else "")
    alloc = (f"w{r['alloc_bits']}" if r["alloc_bits"] else "") + (f"a{r['alloc_act_bits']}" if r["alloc_act_bits"] else "")
    sens = "-" if r["sens"] is None else f"{r['sens']:.3g}"
    return [layer, r["op"], r["shape"], r["weights"] or "-", r["acts"] or "-", bits or "-", alloc or "-", sens,
            r["method"] or "-",
            _db(r["sqnr_db"]), "-" if r["differ_from_sim"] is None else str(r["differ_from_sim"]), _count(r["params"]), _bytes(r["bytes"]), _count(r["macs"]), _count(r["bops"]),
            f"{100 * r['latency_share']:.1f}"]


def footer_lines(report) -> list:
    t = report.totals
    lines = [
        f"total: {_count(t['params'])} params in {_bytes(t['bytes'])} ({_ratio(t['size_ratio'])} smaller than fp32 "
        f"{_bytes(t['fp32_bytes'])}); {_count(t['macs'])} MACs, {_count(t['bops'])} BOPs ({_ratio(t['bops_ratio'])} "
        f"fewer than fp32); predicted latency {t['latency_ns'] / 1e3:.2f} us ({report.target} cost model)",
    ]
    if report.outputs_db:
        lines.append("output SQNR vs float: " + ", ".join(_db(d, unit=" dB") for d in report.outputs_db))
    floats = [r for r in report.rows if r.get("float_reason")]
    if report.lowered:
        lines.append(f"float layers after lower: {len(floats) or 'none'}")
        lines += [f"  %{r['layer']} ({r['op']}): {r['float_reason']}" for r in floats]
    lines += [f"note: {n}" for n in report.notes]
    lines.append("diagnostics:" + ("" if report.diagnostics else " none"))
    lines += [f"  {d}" for d in report.diagnostics]
    lines.append("opaque ops (run through ONNX Runtime): " + (", ".join(report.opaque_ops) or "none"))
    return lines


def _db(x, unit: str = "") -> str:
    if x is None:
        return "-"
    return "exact" if x == math.inf else f"{x:.1f}{unit}"


def _count(n) -> str:
    if not n:
        return "0"
    for threshold, scale, suffix in ((1e12, 1e12, "T"), (1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if n >= threshold:
            return f"{n / scale:.1f}{suffix}"
    return f"{n:,}"


def _bytes(n) -> str:
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:g} B"


def _ratio(x) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.2f}x"
