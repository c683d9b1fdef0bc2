"""The HTML report's plots as inline SVG text (matplotlib, Agg): SQNR, bits and
sensitivity per layer, and a Pareto front. Each returns None when it has nothing to
draw, so the page leaves the plot out rather than drawing an empty frame."""
from __future__ import annotations

import io
import math
from typing import Optional

# a layer per bar; wide models get a wider figure, up to a width a page can still show
INCHES_PER_LAYER = 0.12
MIN_WIDTH, MAX_WIDTH, HEIGHT = 6.0, 24.0, 3.2


def sqnr_plot(rows: list) -> Optional[str]:
    points = [(r["layer"], r["sqnr_db"]) for r in rows if r["sqnr_db"] is not None and math.isfinite(r["sqnr_db"])]
    if not points:
        return None
    return _bars([p[0] for p in points], {"SQNR (dB)": [p[1] for p in points]}, "SQNR vs float per layer", "dB")


def bits_plot(rows: list) -> Optional[str]:
    layers = [r for r in rows if r["w_bits"] or r["a_bits"]]
    if not layers:
        return None
    # stored bits per weight: a codebook's ~0.5 bits, not its codewords' 8
    series = {"weight bits": [r.get("w_bits_per_weight") or 0 for r in layers],
              "activation bits": [r["a_bits"] or 0 for r in layers]}
    return _bars([r["layer"] for r in layers], series, "bits per layer", "bits")


def sensitivity_plot(rows: list) -> Optional[str]:
    layers = [r for r in rows if r.get("sens") is not None]
    if not layers:
        return None
    return _bars([r["layer"] for r in layers], {"sensitivity": [r["sens"] for r in layers]},
                 "sensitivity per layer (the bit allocator's score)", "score", log=all(r["sens"] > 0 for r in layers))


def pareto_plot(pareto) -> Optional[str]:
    if pareto is None or not pareto.points:
        return None
    fig, ax = _figure(7.0, 4.0)
    classes = pareto.reference.accuracy is not None
    y = (lambda p: 100 * p.accuracy) if classes else (lambda p: p.loss)
    ax.scatter([p.size for p in pareto.points], [y(p) for p in pareto.points], s=18, c="0.6", label="swept budgets")
    ax.step([p.size for p in pareto.front], [y(p) for p in pareto.front], where="post", marker="o", c="C0",
            label="Pareto front")
    if pareto.chosen is not None:
        ax.scatter([pareto.chosen.size], [y(pareto.chosen)], s=160, marker="*", c="C3", zorder=3, label="chosen")
    ax.set_xlabel("weight size (bytes)")
    ax.set_ylabel("accuracy (%)" if classes else "loss")
    ax.set_title(f"{pareto.resource} budgets on {pareto.target}")
    ax.legend(fontsize=8)
    return _svg(fig)


def _bars(labels: list, series: dict, title: str, unit: str, log: bool = False) -> str:
    width = min(MAX_WIDTH, max(MIN_WIDTH, INCHES_PER_LAYER * len(labels) * len(series)))
    fig, ax = _figure(width, HEIGHT)
    step = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        ax.bar([x + i * step for x in range(len(labels))], values, width=step, label=name)
    ax.set_xticks([x + 0.4 - step / 2 for x in range(len(labels))])
    ax.set_xticklabels(labels if len(labels) <= 60 else ["" for _ in labels], rotation=90, fontsize=6)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(unit)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _svg(fig)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(alpha=0.3, axis="y")
    return fig, ax


def _svg(fig) -> str:
    fig.tight_layout()
    out = io.StringIO()
    fig.savefig(out, format="svg")
    text = out.getvalue()
    return text[text.index("<svg"):]  # inline: no XML prolog or doctype inside HTML
