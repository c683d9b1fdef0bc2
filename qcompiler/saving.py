"""A compiled model on disk: text and arrays only, nothing pickled.

    DIR/model.qir, model.npz    the compiled graph (qcompiler.ir.serialize)
    DIR/float.qir, float.npz    the float graph it was quantized from
    DIR/fakequant.qir, .npz     the quantized graph before lowering (for ONNX QDQ)
    DIR/samples.npz             the sample inputs the report measures SQNR on
    DIR/meta.json               target, pipeline, qcompiler version, pass diagnostics
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .ir.errors import QIRError
from .ir.serialize import load_qir, save_qir
from .passmanager import Diagnostic
from .targets import get_target

FORMAT = "qcompiler-compiled-model"
FORMAT_VERSION = 1


class CompiledModelFileError(QIRError):
    """A directory that does not hold a saved compiled model, or a damaged one."""


def save_compiled(cm, directory) -> None:
    from . import __version__

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    save_qir(cm.graph, out / "model.qir")
    if cm.float_graph is not None:
        save_qir(cm.float_graph, out / "float.qir")
    if cm.fake_quant_graph is not None:
        save_qir(cm.fake_quant_graph, out / "fakequant.qir")
    if cm.sample_inputs is not None:
        np.savez(out / "samples.npz", **{str(k): a for k, a in enumerate(cm.sample_inputs)})
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "qcompiler_version": __version__,
        "target": cm.target.name, "pipeline": cm.pipeline, "graph": cm.graph.name,
        "float_graph": cm.float_graph is not None, "fake_quant_graph": cm.fake_quant_graph is not None,
        "sample_inputs": cm.sample_inputs is not None,
        "diagnostics": [{"severity": d.severity, "message": d.message, "pass_name": d.pass_name, "node": d.node}
                        for d in cm.diagnostics],
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def load_compiled(directory):
    from .compiled import CompiledModel

    root = Path(directory)
    meta = _read_meta(root)
    float_graph = load_qir(root / "float.qir") if meta.get("float_graph") else None
    fake_quant_graph = load_qir(root / "fakequant.qir") if meta.get("fake_quant_graph") else None
    samples = None
    if meta.get("sample_inputs"):
        with np.load(root / "samples.npz", allow_pickle=False) as z:
            samples = [z[str(k)] for k in range(len(z.files))]
    try:
        diagnostics = [Diagnostic(**d) for d in meta.get("diagnostics", [])]
        target = get_target(meta["target"])
    except (TypeError, QIRError) as e:  # a hand-edited meta.json: name it, not a constructor
        raise CompiledModelFileError(f"{root / 'meta.json'}: {e}") from None
    return CompiledModel(load_qir(root / "model.qir"), float_graph, target, meta["pipeline"],
                         diagnostics, samples, fake_quant_graph=fake_quant_graph)


def _read_meta(root: Path) -> dict:
    if not root.is_dir():
        raise CompiledModelFileError(f"{root}: no such directory (expected a compiled model saved with cm.save)")
    path = root / "meta.json"
    if not path.is_file():
        raise CompiledModelFileError(f"{root}: no meta.json, so not a compiled model saved with cm.save")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CompiledModelFileError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CompiledModelFileError(f"{path}: not the meta data of a compiled model (format {FORMAT!r})")
    if not isinstance(meta.get("format_version", 0), int):
        raise CompiledModelFileError(f"{path}: format_version {meta['format_version']!r} is not a number")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CompiledModelFileError(f"{path}: written by a newer qcompiler ({meta.get('qcompiler_version')}); "
                                     f"this one reads format version {FORMAT_VERSION}")
    files = ["model.qir"] + (["float.qir"] if meta.get("float_graph") else []) + (
        ["fakequant.qir"] if meta.get("fake_quant_graph") else []) + (
        ["samples.npz"] if meta.get("sample_inputs") else [])
    absent = [f for f in files if not (root / f).is_file()]
    if absent:
        raise CompiledModelFileError(f"{root}: incomplete compiled model, missing {', '.join(absent)}")
    missing = [k for k in ("target", "pipeline") if k not in meta]
    if missing:
        raise CompiledModelFileError(f"{path}: missing {', '.join(missing)}")
    return meta
