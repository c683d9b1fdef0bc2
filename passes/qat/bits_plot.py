"""The widths of a bit reallocation run over time, as a PNG (`qat{plot=PATH}`): one row
per layer, one column per reallocation, each cell coloured and labelled with its width;
below, the weight size of each allocation against the budget."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qcompiler.atomic_write import atomic_file


def plot_bits(history: list, path: str, method: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = list(history[0]["bits"])
    bits = np.array([[entry["bits"][name] for entry in history] for name in layers], dtype=float)
    steps = [entry["step"] for entry in history]
    fig, (grid, size) = plt.subplots(2, 1, figsize=(max(6.0, 0.5 * len(steps) + 3), 0.3 * len(layers) + 3.5),
                                     gridspec_kw={"height_ratios": [max(len(layers), 2), 2]}, sharex=True)
    image = grid.imshow(bits, aspect="auto", cmap="viridis", vmin=bits.min() - 1, vmax=bits.max() + 1)
    for (row, col), b in np.ndenumerate(bits):
        grid.text(col, row, f"{b:.0f}", ha="center", va="center", fontsize=7, color="white")
    grid.set_yticks(range(len(layers)), layers, fontsize=7)
    grid.set_title(f"qat bitopt={method}: weight bits per layer at each reallocation")
    fig.colorbar(image, ax=grid, label="bits")
    size.plot(range(len(steps)), [e["size"] for e in history], "o-", label="weight size (B)")
    size.plot(range(len(steps)), [e["budget"] for e in history], "--", label="budget")
    size.set_xticks(range(len(steps)), [str(s) for s in steps], fontsize=7, rotation=90)
    size.set_xlabel("training step")
    size.legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as partial:  # a failed write leaves the old picture
        fig.savefig(partial, dpi=100)
    plt.close(fig)
