"""Writes that either complete or leave what was there before: the new content goes to a
temporary name in the same folder (same file system, so the rename is atomic) and is
renamed over the target only once fully written. A full disk or a crash mid-write
leaves a stray temporary at worst, never a truncated file or a mixed directory.
`check_writable` probes a destination before long work, so a bad path fails first."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .ir.errors import QIRError


@contextmanager
def atomic_file(path):
    """`with atomic_file(p) as tmp: write(tmp)` puts what was written to `tmp` at `p`."""
    path = Path(path)
    # the suffix stays last: writers that pick a format by extension (onnx.save) see the real one
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".partial{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class NotWritableError(QIRError):
    """A path that cannot be written, found before any work."""


def check_writable(path, directory: bool = False, what: str = "") -> None:
    """Before any work: can `path` (a file, or with `directory` a directory, created if
    new) be written? Probed by creating a file where the writes will go, as permissions,
    read-only mounts and a file in the way all show up only then. `what` names the option."""
    path = Path(path)
    name = f"{what} {path}" if what else str(path)
    if not directory and path.is_dir():
        raise NotWritableError(f"{name}: is a directory")
    folder = path if directory and path.is_dir() else path.parent
    while directory and not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotWritableError(f"{name}: the folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".qcompiler-probe-"):
            pass
    except OSError as e:
        raise NotWritableError(f"{name}: cannot write into {folder} ({e.strerror or e})") from None


PARTIAL_DIRECTORY = ".partial-"  # prefix of the temporary a directory is filled in


@contextmanager
def atomic_directory(path, marker: str):
    """`with atomic_directory(d, "meta.json") as tmp: fill(tmp)` puts what `tmp` holds
    into directory `d`. A new `d` is the filled temporary, renamed into place. An existing
    one (possibly '.' or a mount point, which cannot be renamed) loses its `marker` first,
    gets each file renamed over its old version, and its new marker last: a crash in
    between leaves a directory without a marker, which loaders refuse, never old and new
    files under one marker. Old files the new content lacks are left alone."""
    path = Path(path)
    exists = path.is_dir()
    if not exists:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path if exists else path.parent, prefix=PARTIAL_DIRECTORY))
    try:
        yield tmp
        if not exists:
            os.rename(tmp, path)
            return
        (path / marker).unlink(missing_ok=True)
        for item in sorted(tmp.iterdir(), key=lambda p: p.name == marker):  # the marker last
            os.replace(item, path / item.name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
