"""A compiled model on disk: text and arrays only, nothing pickled.

    DIR/model.qir, model.npz    the compiled graph (qcompiler.ir.serialize)
    DIR/float.qir, float.npz    the float graph it was quantized from
    DIR/fakequant.qir, .npz     the quantized graph before lowering (for ONNX QDQ)
    DIR/samples.npz             the sample inputs the report measures SQNR on
    DIR/meta.json               target, pipeline, qcompiler version, pass diagnostics, and
                                the SHA-256 of every other file (load checks them)

A save fills a temporary sibling directory and renames it into place (atomic_write.py),
and load refuses files whose checksum differs, so a save cut short (full disk, crash)
or a file swapped in by hand never loads as a model.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .atomic_write import PARTIAL_DIRECTORY, atomic_directory
from .ir.array_files import ArrayFileError, numbered_arrays
from .ir.errors import QIRError
from .ir.serialize import load_qir, write_qir
from .passmanager import Diagnostic
from .targets import get_target

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
    from . import __version__

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
            "sha256": {f.name: _sha256(f) for f in sorted(out.iterdir())},
        }
        (out / META).write_text(json.dumps(meta, indent=2) + "\n")


def load_compiled(directory):
    from .compiled import CompiledModel

    root = Path(directory)
    meta = _read_meta(root)
    float_graph = load_qir(root / "float.qir") if meta.get("float_graph") else None
    fake_quant_graph = load_qir(root / "fakequant.qir") if meta.get("fake_quant_graph") else None
    samples = None
    if meta.get("sample_inputs"):
        try:
            samples = numbered_arrays(root / "samples.npz")
        except ArrayFileError as e:
            raise CompiledModelFileError(f"sample inputs: {e}") from None
    try:
        diagnostics = [Diagnostic(**d) for d in meta.get("diagnostics", [])]
        target = get_target(meta["target"])
    except (TypeError, QIRError) as e:  # a hand-edited meta.json: name it, not a constructor
        raise CompiledModelFileError(f"{root / META}: {e}") from None
    return CompiledModel(load_qir(root / "model.qir"), float_graph, target, meta["pipeline"],
                         diagnostics, samples, fake_quant_graph=fake_quant_graph)


def _read_json(path: Path) -> dict:
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CompiledModelFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise CompiledModelFileError(f"{path}: not valid JSON: {e}") from None
    except OSError as e:
        raise CompiledModelFileError(f"{path}: cannot be read: {e.strerror or e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CompiledModelFileError(f"{path}: not the meta data of a compiled model (format {FORMAT!r})")
    return meta


def _read_meta(root: Path) -> dict:
    if not root.is_dir():
        raise CompiledModelFileError(f"{root}: no such directory (expected a compiled model saved with cm.save)")
    path = root / META
    if not path.is_file():
        raise CompiledModelFileError(f"{root}: no meta.json, so not a compiled model saved with cm.save")
    meta = _read_json(path)
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CompiledModelFileError(f"{path}: format_version {version!r} is not a number")
    if version > FORMAT_VERSION:
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
    wrong = [k for k in ("target", "pipeline") if not isinstance(meta[k], str)]
    if wrong:
        raise CompiledModelFileError(f"{path}: {wrong[0]} is {meta[wrong[0]]!r}, expected a string")
    if version >= 2:
        _check_sums(root, meta.get("sha256"), path)
    return meta


def _check_sums(root: Path, sums, path: Path) -> None:
    """Every file the save wrote, unchanged: a save cut short or a file swapped in by
    hand would otherwise load a model that was never compiled."""
    if not isinstance(sums, dict) or "model.qir" not in sums:
        raise CompiledModelFileError(f"{path}: no checksums of the model files (sha256)")
    for name, expected in sorted(sums.items()):
        file = root / Path(str(name)).name
        if not file.is_file():
            raise CompiledModelFileError(f"{root}: incomplete compiled model, missing {file.name}")
        if _sha256(file) != expected:
            raise CompiledModelFileError(f"{file}: differs from the file saved with this meta.json (checksum "
                                         f"mismatch: written partly, or replaced); save the model again")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
