"""Writes that either complete or leave what was there before: the new content goes to a
temporary name in the same folder (same file system, so the rename is atomic) and is
renamed over the target only once fully written. A full disk or a crash mid-write
leaves a stray temporary at worst, never a truncated file or a mixed directory."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


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


@contextmanager
def atomic_directory(path):
    """`with atomic_directory(d) as tmp: fill(tmp)` replaces directory `d` by `tmp` once
    filled. Between the two renames `d` is briefly absent, never half old, half new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial"))
    try:
        yield tmp
        if not path.exists():
            os.rename(tmp, path)
            return
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
        os.rename(path, old / path.name)
        try:
            os.rename(tmp, path)
        except OSError:
            os.rename(old / path.name, path)
            raise
        finally:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
