"""Numba's on-disk cache checks only the timestamp of the file that defines a kernel, not
the files of the functions it calls: after an edit (or a `git pull`) of kernels/llvm_tile.py
an editable checkout would keep running the old machine code of every conv that inlines
it, silently. One digest over all of the backend's sources, kept beside the cache, drops
every cached kernel when any source changes."""
from __future__ import annotations

import hashlib
from pathlib import Path

BACKEND_ROOT = Path(__file__).parent
STAMP_NAME = "qcompiler-sources.sha256"


def sources_digest(root: Path = BACKEND_ROOT) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def drop_stale_kernel_cache(root: Path = BACKEND_ROOT) -> bool:
    """Delete Numba's cached kernels under `root` unless they were built from the sources
    there now; True when it deleted. A read-only install cannot hold a stale cache of its
    own (Numba then caches in the user's directory, keyed by the installed files, which an
    upgrade replaces all at once), so failing to write the stamp is not an error."""
    digest = sources_digest(root)
    stamp = root / "__pycache__" / STAMP_NAME
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    for cached in [*root.rglob("__pycache__/*.nbi"), *root.rglob("__pycache__/*.nbc")]:
        cached.unlink(missing_ok=True)
    try:
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass
    return True
