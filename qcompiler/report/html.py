"""The report as one self-contained HTML page: the per-layer table, SVG plots of SQNR,
bits and sensitivity per layer, the Pareto front when there is one, the pipeline with
per-pass timing and the IR diff of every pass that changed the graph. No script, no
stylesheet or font from the network: the page opens offline and prints as it shows."""
from __future__ import annotations

import html
from typing import Optional, Sequence

from ..atomic_write import atomic_file
from .plots import bits_plot, pareto_plot, sensitivity_plot, sqnr_plot
from .table import COLUMNS, RIGHT_ALIGNED, footer_lines, row_cells

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.float-layer td { background: #fff4e0; }
figure.plot { margin: 0.5em 0 1.5em; overflow-x: auto; }
figure.plot svg { height: auto; max-width: none; }
details.ir-diff pre { background: #f6f6f6; padding: 0.5em; font-size: 11px; overflow-x: auto; }
.add { color: #176f2c; } .del { color: #a3161b; }
.bar { display: inline-block; height: 0.8em; background: #4c78a8; }
"""


def write_html(report, pass_log: Sequence = (), path=None, pareto=None) -> str:
    """The page for `report` (a Report) with `pass_log` (instruments.PassRecord list) and
    an optional ParetoResult; written atomically to `path` when given."""
    page = render_html(report, pass_log, pareto)
    if path is not None:
        with atomic_file(path) as partial:
            partial.write_text(page, encoding="utf-8")
    return page


def render_html(report, pass_log: Sequence = (), pareto=None) -> str:
    title = f"qcompiler report: @{report.graph} for {report.target}"
    body = [f"<h1>{_e(title)}</h1>", f'<p class="pipeline">pipeline: <code>{_e(report.pipeline)}</code></p>',
            _summary(report), "<h2>Plots</h2>", *_plots(report, pareto), "<h2>Layers</h2>", _layer_table(report),
            "<h2>Pipeline</h2>", _pass_table(pass_log), "<h2>IR diffs between passes</h2>", *_diffs(pass_log)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def _summary(report) -> str:
    lines = [line.strip() for line in footer_lines(report) if line.strip()]
    return '<ul class="summary">' + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>"


def _plots(report, pareto) -> list:
    plots = [("sqnr", sqnr_plot(report.rows)), ("bits", bits_plot(report.rows)),
             ("sensitivity", sensitivity_plot(report.rows)), ("pareto", pareto_plot(pareto))]
    shown = [f'<figure class="plot" id="plot-{name}">{svg}</figure>' for name, svg in plots if svg is not None]
    missing = [name for name, svg in plots if svg is None]
    if missing:
        shown.append(f'<p class="no-plot">not plotted (no data): {", ".join(missing)}</p>')
    return shown


def _layer_table(report) -> str:
    head = "".join(f'<th{_num(h)}>{_e(h)}</th>' for h in COLUMNS) + "<th>float because</th>"
    rows = []
    for r in report.rows:
        cells = "".join(f"<td{_num(h)}>{_e(c)}</td>" for h, c in zip(COLUMNS, row_cells(r)))
        reason = r.get("float_reason") or ""
        css = "layer float-layer" if reason else "layer"
        rows.append(f'<tr class="{css}" data-layer="{_e(r["layer"])}">{cells}<td>{_e(reason)}</td></tr>')
    return f'<table id="layers"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _pass_table(pass_log: Sequence) -> str:
    if not pass_log:
        return '<p class="no-passes">pass timings were not recorded (a model loaded from disk keeps none)</p>'
    total = sum(r.seconds for r in pass_log) or 1.0
    rows = []
    for i, r in enumerate(pass_log, 1):
        share = r.seconds / total
        bar = f'<span class="bar" style="width:{200 * share:.0f}px"></span>'
        rows.append(f'<tr class="pass" data-pass="{_e(r.name)}"><td class="num">{i}</td><td>{_e(r.name)}</td>'
                    f'<td class="num">{1e3 * r.seconds:.1f}</td><td class="num">{100 * share:.1f}</td><td>{bar}</td>'
                    f'<td class="num">{r.nodes_before} &rarr; {r.nodes_after}</td>'
                    f'<td>{"changed" if r.changed else "unchanged"}</td></tr>')
    head = ('<tr><th class="num">#</th><th>pass</th><th class="num">ms</th><th class="num">%</th><th></th>'
            '<th class="num">nodes</th><th>graph</th></tr>')
    return f'<table id="passes"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _diffs(pass_log: Sequence) -> list:
    out = []
    for i, r in enumerate(pass_log, 1):
        if not r.diff:
            continue
        lines = [_diff_line(line) for line in r.diff]
        if r.diff_lines > len(r.diff):
            lines.append(_e(f"... {r.diff_lines - len(r.diff)} more lines"))
        out.append(f'<details class="ir-diff" data-pass="{_e(r.name)}"><summary>{i}. {_e(r.name)} '
                   f'({r.diff_lines} diff lines)</summary><pre>' + "\n".join(lines) + "</pre></details>")
    return out or ['<p class="no-diffs">no pass changed the graph, or none was recorded</p>']


def _diff_line(line: str) -> str:
    if line.startswith("+") and not line.startswith("+++"):
        return f'<span class="add">{_e(line)}</span>'
    if line.startswith("-") and not line.startswith("---"):
        return f'<span class="del">{_e(line)}</span>'
    return _e(line)


def _num(header: str) -> str:
    return ' class="num"' if header in RIGHT_ALIGNED else ""


def _e(text: Optional[object]) -> str:
    return html.escape("" if text is None else str(text))
