"""A compiled model on disk: text and arrays only, nothing pickled.

    DIR/model.qir, model.npz    the compiled graph (qcompiler.ir.serialize)
    DIR/float.qir, float.npz    the float graph it was quantized from
    DIR/fakequant.qir, .npz     the quantized graph before lowering (for ONNX QDQ)
    DIR/samples.npz             the sample inputs the report measures SQNR on
    DIR/meta.json               target, pipeline, qcompiler version, pass diagnostics, and
                                the SHA-256 of every other file (load checks them)

A save fills a temporary sibling directory and renames it into place (atomic_write.py),
and load (load_compiled.py) refuses files whose checksum differs, so a save cut short
(full disk, crash) or a file swapped in by hand never loads as a model.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..atomic_write import PARTIAL_DIRECTORY, atomic_directory
from ..ir.errors import QIRError
from ..ir.serialize import write_qir
from ..version import __version__

FORMAT = "qcompiler-compiled-model"
FORMAT_VERSION = 2  # 2: meta.json carries the files' checksums
META = "meta.json"
FILES = {META, "samples.npz"} | {f"{g}.{ext}" for g in ("model", "float", "fakequant") for ext in ("qir", "npz")}


class CompiledModelFileError(QIRError):
    """A directory that does not hold a saved compiled model, or a damaged one."""


def check_save_directory(directory) -> None:
    """Saving replaces a compiled model (or what is left of one) or fills an empty or new
    directory; a file of any other name is someone else's, which a save must not mix into."""
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise CompiledModelFileError(f"{out}: exists and is not a directory (the compiled model is saved as one)")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in FILES
                     and not p.name.startswith(PARTIAL_DIRECTORY)) if out.is_dir() else []
    if foreign:
        raise CompiledModelFileError(f"{out}: holds files a compiled model does not ({', '.join(foreign[:3])}"
                                     f"{', ...' if len(foreign) > 3 else ''}); give a new or empty directory")


def save_compiled(cm, directory) -> None:
    check_save_directory(directory)
    with atomic_directory(directory, META) as out:
        write_qir(cm.graph, out / "model.qir")
        if cm.float_graph is not None:
            write_qir(cm.float_graph, out / "float.qir")
        if cm.fake_quant_graph is not None:
            write_qir(cm.fake_quant_graph, out / "fakequant.qir")
        if cm.sample_inputs is not None:
            np.savez(out / "samples.npz", **{str(k): a for k, a in enumerate(cm.sample_inputs)})
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "qcompiler_version": __version__,
            "target": cm.target.name, "pipeline": cm.pipeline, "graph": cm.graph.name,
            "float_graph": cm.float_graph is not None, "fake_quant_graph": cm.fake_quant_graph is not None,
            "sample_inputs": cm.sample_inputs is not None,
            "diagnostics": [{"severity": d.severity, "message": d.message, "pass_name": d.pass_name, "node": d.node}
                            for d in cm.diagnostics],
            "sha256": {f.name: sha256(f) for f in sorted(out.iterdir())},
        }
        (out / META).write_text(json.dumps(meta, indent=2) + "\n")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
