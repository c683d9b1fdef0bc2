"""DumpIR: a numbered `.qir` file (+ `.npz` blobs) of the graph before and after every pass.

    000_input.qir  001_fold-bn.qir  002_fuse-activations.qir ...
"""
from __future__ import annotations

from pathlib import Path

from ..ir.serialize import save_qir
from ..passmanager import Instrument


class DumpIR(Instrument):
    def __init__(self, directory):
        self.directory = Path(directory)
        self.paths: list[Path] = []

    def enter_pipeline(self, graph, ctx) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._save(graph, "input")

    def after_pass(self, p, graph, ctx, result) -> None:
        self._save(graph, p.name)

    def _save(self, graph, label: str) -> None:
        path = self.directory / f"{len(self.paths):03d}_{label}.qir"
        save_qir(graph, path)
        self.paths.append(path)
