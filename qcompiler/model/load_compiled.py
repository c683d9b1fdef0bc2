"""`qcompiler.load(DIR)`: a compiled model saved with `cm.save` (the files: saving.py),
read back only when meta.json names every file with an unchanged checksum."""
from __future__ import annotations

import json
from pathlib import Path

from ..ir.array_files import ArrayFileError, numbered_arrays
from ..ir.errors import QIRError
from ..ir.serialize import load_qir
from ..passmanager import Diagnostic
from ..targets import get_target
from .compiled import CompiledModel
from .saving import FORMAT, FORMAT_VERSION, META, CompiledModelFileError, sha256


def load_compiled(directory):
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
        if sha256(file) != expected:
            raise CompiledModelFileError(f"{file}: differs from the file saved with this meta.json (checksum "
                                         f"mismatch: written partly, or replaced); save the model again")
