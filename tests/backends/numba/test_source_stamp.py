"""The backend's Numba cache is dropped exactly when one of its sources changes."""
from qcompiler.backends.numba.source_stamp import STAMP_NAME, drop_stale_kernel_cache


def _cached_kernels(root):
    cache = root / "ops" / "__pycache__"
    cache.mkdir(parents=True, exist_ok=True)
    files = [cache / "conv.qconv-12.py311.nbi", cache / "conv.qconv-12.py311.1.nbc"]
    for path in files:
        path.write_bytes(b"machine code")
    return files


def test_cache_is_kept_while_sources_are_unchanged_and_dropped_after_an_edit(tmp_path):
    (tmp_path / "ops").mkdir()
    callee = tmp_path / "tile.py"
    callee.write_text("def tile(): return 1\n")
    (tmp_path / "ops" / "conv.py").write_text("from ..tile import tile\n")

    first = _cached_kernels(tmp_path)
    assert drop_stale_kernel_cache(tmp_path)  # no stamp yet: nothing proves the cache fresh
    assert not any(path.exists() for path in first)
    assert (tmp_path / "__pycache__" / STAMP_NAME).exists()

    kept = _cached_kernels(tmp_path)
    assert not drop_stale_kernel_cache(tmp_path)
    assert all(path.exists() for path in kept)

    callee.write_text("def tile(): return 2\n")  # the caller's own file is untouched
    assert drop_stale_kernel_cache(tmp_path)
    assert not any(path.exists() for path in kept)
    assert (tmp_path / "ops" / "conv.py").exists()


def test_the_installed_backend_is_stamped_after_import():
    import qcompiler.backends.numba as backend
    from qcompiler.backends.numba.source_stamp import BACKEND_ROOT, sources_digest

    assert backend.NumbaExecutor is not None
    assert (BACKEND_ROOT / "__pycache__" / STAMP_NAME).read_text() == sources_digest()
